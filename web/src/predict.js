// The Predict page: model, genome file or cohort sample, covariates (age, sex, BMI) -> face(s) in
// 3D viewers, the traits panel, the allele-match report and downloads.
import { dispositionFilename, request } from "./api.js";
import { formatNumber, formatPercent, intervalScale, safeStem, symmetricRange, traitPanels } from "./format.js";
import { $, clearError, messageOf, queryForm, setupInputs, showError, whileBusy } from "./ui.js";
import { FaceViewer } from "./viewer.js";

const DEBOUNCE_MS = 250;
const FORMATS = { ply: "ply", obj: "obj", glb: "glb", png: "png" };

export async function predictPage(state) {
  const ageInput = $("#age");
  const ageValue = $("#age-value");
  const ageClear = $("#age-clear");
  const ageNote = $("#age-note");
  const sexSelect = $("#sex");
  const bmiInput = $("#bmi");
  const nFacesInput = $("#n-faces");
  const nFacesField = $("#n-faces-field");
  const viewersBox = $("#viewers");

  let ageSet = false; // the slider sends an age only once the user has moved it
  let lastQuery = null; // the genome of the shown prediction: {model, file, sample, person}
  let lastSent = null; // the full request of the shown prediction (for the downloads)
  let lastResult = null;
  let viewers = [];
  let viewersModel = null;
  let seq = 0;
  let controller = null;
  let timer = 0;
  const templates = new Map();

  const inputs = await setupInputs({
    onModelChange: (model) => {
      modelControls(model);
      if (lastQuery) schedule();
    },
  });
  state.inputs = inputs;
  modelControls(inputs.currentModel());
  showAge();

  function modelControls(model) {
    const ageOk = !model || model.age_projection !== false;
    ageInput.disabled = !ageOk;
    ageClear.disabled = !ageOk;
    ageNote.hidden = ageOk;
    const samples = Boolean(model && model.samples);
    nFacesField.hidden = !samples;
    nFacesInput.disabled = !samples;
  }

  function showAge() {
    ageInput.dataset.set = ageSet ? "1" : "0";
    ageValue.textContent = ageSet ? `${ageInput.value} years` : "not set";
  }

  function covariates() {
    const model = inputs.currentModel();
    const out = {};
    if (ageSet && !ageInput.disabled) out.age = ageInput.value;
    if (sexSelect.value === "F" || sexSelect.value === "M") out.sex = sexSelect.value;
    const bmi = bmiInput.value.trim();
    if (bmi) {
      const value = Number(bmi);
      if (!Number.isFinite(value) || value < 10 || value > 80) throw new Error("BMI must be a number between 10 and 80.");
      out.bmi = String(value);
    }
    if (model && model.samples) {
      const n = Math.round(Number(nFacesInput.value) || 1);
      out.n_faces = String(Math.max(1, Math.min(6, n)));
    }
    return out;
  }

  function buildForm(sent, format = "json") {
    const form = queryForm(sent.query);
    for (const [key, value] of Object.entries(sent.covariates)) form.append(key, value);
    form.append("format", format);
    return form;
  }

  // --- events ----------------------------------------------------------------------------------

  $("#predict-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    let query;
    try {
      query = inputs.currentQuery();
    } catch (err) {
      showError(messageOf(err));
      return;
    }
    run(query);
  });

  // Covariate changes re-request the shown genome (the File object is kept and sent again).
  function schedule() {
    clearTimeout(timer);
    if (!lastQuery) return;
    timer = setTimeout(() => {
      const model = inputs.currentModel();
      run({ ...lastQuery, model: model ? model.name : lastQuery.model });
    }, DEBOUNCE_MS);
  }
  for (const type of ["input", "change"]) {
    ageInput.addEventListener(type, () => {
      ageSet = true;
      showAge();
      schedule();
    });
    bmiInput.addEventListener(type, schedule);
    nFacesInput.addEventListener(type, schedule);
  }
  sexSelect.addEventListener("change", schedule);
  ageClear.addEventListener("click", () => {
    if (!ageSet) return;
    ageSet = false;
    showAge();
    schedule();
  });

  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      if (radio.checked) for (const viewer of viewers) viewer.setMode(radio.value);
    });
  }

  for (const button of document.querySelectorAll("button[data-format]")) {
    button.addEventListener("click", () => download(button.dataset.format));
  }

  // --- requests --------------------------------------------------------------------------------

  async function template(model) {
    if (!templates.has(model)) {
      const promise = request(`/api/models/${encodeURIComponent(model)}/template`);
      templates.set(model, promise);
      promise.catch(() => templates.delete(model));
    }
    return templates.get(model);
  }

  async function run(query) {
    let sent;
    try {
      sent = { query, covariates: covariates() };
    } catch (err) {
      showError(messageOf(err));
      return;
    }
    const id = ++seq;
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    clearError();
    try {
      const [tmpl, result] = await whileBusy(
        Promise.all([template(query.model), request("/api/predict", { method: "POST", body: buildForm(sent), signal })]),
        "Predicting\u2026",
      );
      if (id !== seq) return; // a newer request has been sent
      show(tmpl, result, sent);
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (id === seq) showError(messageOf(err));
    }
  }

  function show(tmpl, result, sent) {
    const faces = Array.isArray(result.faces) ? result.faces : [];
    if (!faces.length) throw new Error("The server sent no faces.");
    const mean = tmpl.mean;
    if (!Array.isArray(tmpl.triangles) || !Array.isArray(mean)) throw new Error("The model template is incomplete.");
    if (faces.some((f) => !f || f.length !== mean.length)) {
      throw new Error("The predicted face and the model template have different vertex counts.");
    }
    const differences = Array.isArray(result.difference_mm) ? result.difference_mm : [];
    let range = 0;
    for (const d of differences) if (d) range = Math.max(range, symmetricRange(d));

    $("#result").hidden = false;
    const mode = (document.querySelector('input[name="mode"]:checked') || {}).value || "shaded";
    if (viewersModel !== sent.query.model || viewers.length !== faces.length) {
      for (const viewer of viewers) viewer.dispose();
      viewers = [];
      viewersBox.replaceChildren();
      viewersBox.dataset.count = String(faces.length);
      faces.forEach((_, i) => {
        const figure = document.createElement("figure");
        figure.className = "face";
        const box = document.createElement("div");
        box.className = "viewer";
        box.dataset.index = String(i);
        const caption = document.createElement("figcaption");
        caption.textContent = faces.length > 1 ? `Face ${i + 1} of ${faces.length}` : "Predicted face";
        figure.append(box, caption);
        viewersBox.appendChild(figure);
      });
      viewersBox.querySelectorAll(".viewer").forEach((box) => {
        viewers.push(new FaceViewer(box, { triangles: tmpl.triangles, meanVertices: mean }));
      });
      viewersModel = sent.query.model;
    }
    faces.forEach((face, i) => {
      const viewer = viewers[i];
      viewer.setVertices(face);
      const d = differences[i];
      if (d && d.length === mean.length / 3) viewer.setDifference(d, range);
      viewer.setMode(mode);
    });
    state.viewers = viewers;

    lastQuery = sent.query;
    lastSent = sent;
    lastResult = result;
    $("#result-sample").textContent = result.sample || sent.query.sample || (sent.query.file ? sent.query.file.name : "");
    $("#covariates").textContent = covariatesLine(result.covariates);
    renderTraits($("#traits"), result.traits);
    $("#allele-report").textContent = typeof result.allele_report === "string" && result.allele_report ? result.allele_report : "(no allele report)";
    for (const button of document.querySelectorAll("button[data-format]")) button.disabled = false;
  }

  async function download(format) {
    if (!lastSent || !FORMATS[format]) return;
    clearError();
    try {
      const response = await whileBusy(
        request("/api/predict", { method: "POST", body: buildForm(lastSent, format), as: "response" }),
        `Preparing ${format.toUpperCase()}\u2026`,
      );
      const blob = await response.blob();
      const stem = safeStem(lastResult && lastResult.sample ? lastResult.sample : lastSent.query.sample, "");
      const name = stem ? `${stem}.${FORMATS[format]}` : safeStem(dispositionFilename(response.headers.get("Content-Disposition")), `face.${FORMATS[format]}`);
      save(blob, name);
    } catch (err) {
      showError(messageOf(err));
    }
  }
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function covariatesLine(cov) {
  if (!cov || typeof cov !== "object") return "";
  // The server fills in age or BMI when only the other is given (the training mean): say so.
  const assumed = new Set(Array.isArray(cov.assumed) ? cov.assumed : []);
  const mark = (key) => (assumed.has(key) ? " (the training mean: not given)" : "");
  const age = cov.age != null ? `${formatNumber(Number(cov.age))} years${mark("age")}` : "not given";
  const sex = cov.sex === "F" ? "female" : cov.sex === "M" ? "male" : "not given";
  const bmi = cov.bmi != null ? `${formatNumber(Number(cov.bmi))}${mark("bmi")}` : "not given";
  return `Covariates used: age ${age}, sex ${sex}, BMI ${bmi}.`;
}

/** The traits panel: a bar chart per distribution, a value with a range bar per interval. */
export function renderTraits(box, traits) {
  box.replaceChildren();
  const panels = traitPanels(traits);
  if (!panels.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No traits were predicted for this genome.";
    box.appendChild(p);
    return;
  }
  for (const panel of panels) {
    const block = document.createElement("div");
    block.className = "trait";
    block.dataset.trait = panel.key;
    block.dataset.kind = panel.kind;
    const heading = document.createElement("h3");
    heading.textContent = panel.title;
    block.appendChild(heading);
    if (panel.kind === "probabilities") {
      const top = Math.max(...panel.pairs.map(([, p]) => p));
      for (const [label, p] of panel.pairs) block.appendChild(bar(label, p, p === top));
    } else {
      block.appendChild(interval(panel));
    }
    if (panel.note) {
      const note = document.createElement("p");
      note.className = "trait-note";
      note.textContent = panel.note;
      block.appendChild(note);
    }
    box.appendChild(block);
  }
}

function bar(label, p, isTop) {
  const row = document.createElement("div");
  row.className = isTop ? "bar top" : "bar";
  row.dataset.label = label;
  row.dataset.p = p.toFixed(2);
  const name = document.createElement("span");
  name.className = "bar-label";
  name.textContent = label;
  const track = document.createElement("span");
  track.className = "bar-track";
  const fill = document.createElement("span");
  fill.className = "bar-fill";
  fill.style.width = `${(Math.max(0, Math.min(1, p)) * 100).toFixed(1)}%`;
  track.appendChild(fill);
  const value = document.createElement("span");
  value.className = "bar-value";
  value.textContent = formatPercent(p);
  row.append(name, track, value);
  row.setAttribute("role", "img");
  row.setAttribute("aria-label", `${label}: ${formatPercent(p)}`);
  return row;
}

function interval({ key, mean, lo, hi, unit }) {
  const u = unit ? ` ${unit}` : "";
  const box = document.createElement("div");
  box.className = "interval";
  box.dataset.mean = String(mean);
  box.dataset.lo = String(lo);
  box.dataset.hi = String(hi);
  const value = document.createElement("div");
  value.className = "interval-value";
  const strong = document.createElement("strong");
  strong.textContent = `${formatNumber(mean)}${u}`;
  value.append(strong, ` (95% interval ${formatNumber(lo)}\u2013${formatNumber(hi)}${u})`);
  const [a, b] = intervalScale(key, lo, hi);
  const pos = (x) => `${(((x - a) / (b - a)) * 100).toFixed(2)}%`;
  const track = document.createElement("div");
  track.className = "range-track";
  const range = document.createElement("span");
  range.className = "range-fill";
  range.style.left = pos(lo);
  range.style.width = `${(((hi - lo) / (b - a)) * 100).toFixed(2)}%`;
  const marker = document.createElement("span");
  marker.className = "range-mean";
  marker.style.left = pos(mean);
  track.append(range, marker);
  const scale = document.createElement("div");
  scale.className = "range-scale";
  const left = document.createElement("span");
  left.textContent = `${formatNumber(a)}${u}`;
  const right = document.createElement("span");
  right.textContent = `${formatNumber(b)}${u}`;
  scale.append(left, right);
  box.append(value, track, scale);
  return box;
}
