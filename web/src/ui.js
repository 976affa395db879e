// Page plumbing shared by the Predict and Match pages: the error line, the busy state, the nav,
// and the model / genome-file / cohort-sample inputs.
import { ApiError, request, withToken } from "./api.js";
import { oneLine } from "./format.js";

export const $ = (selector, root = document) => root.querySelector(selector);

export function showError(message) {
  const box = $("#error");
  if (!box) return;
  box.textContent = oneLine(message) || "Something went wrong.";
  box.hidden = false;
}

export function clearError() {
  const box = $("#error");
  if (!box) return;
  box.textContent = "";
  box.hidden = true;
}

/** The message to show for a caught error: ours as they are, anything else as one line. */
export function messageOf(err) {
  if (err instanceof ApiError) return err.message;
  return oneLine(err && err.message ? err.message : String(err)) || "Something went wrong.";
}

let busyCount = 0;

/** Mark the page busy while `promise` runs: body[data-busy] = "1" / "0", #status text, buttons marked. */
export async function whileBusy(promise, statusText = "Working\u2026") {
  busyCount++;
  setBusy(statusText);
  try {
    return await promise;
  } finally {
    busyCount--;
    setBusy(statusText);
  }
}

function setBusy(statusText) {
  const busy = busyCount > 0;
  document.body.dataset.busy = busy ? "1" : "0";
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  const status = $("#status");
  if (status) status.textContent = busy ? statusText : "";
}

/** Nav links keep ?token=; the current page's link is marked. */
export function setupNav(page) {
  for (const link of document.querySelectorAll("nav.site-nav a")) {
    link.setAttribute("href", withToken(link.getAttribute("href")));
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
  }
}

/**
 * The model chooser, the genome file input and the cohort sample chooser, filled from /api/models.
 * Choosing a file clears the sample and typing a sample clears the file, so the input used is the
 * one the user set last.
 */
export async function setupInputs({ onModelChange = () => {} } = {}) {
  const modelSelect = $("#model");
  const fileInput = $("#file");
  const sampleInput = $("#sample");
  const personInput = $("#person");
  const info = await request("/api/models");
  const models = Array.isArray(info && info.models) ? info.models : [];
  modelSelect.replaceChildren();
  for (const model of models) {
    const option = document.createElement("option");
    option.value = model.name;
    option.textContent = model.kind && model.kind !== model.name ? `${model.name} (${model.kind})` : model.name;
    modelSelect.appendChild(option);
  }
  modelSelect.disabled = models.length === 0;
  if (!models.length) showError("The server has no models to predict with.");

  const cohort = info && info.cohort;
  const sampleField = $("#sample-field");
  if (cohort && Array.isArray(cohort.sample_ids) && cohort.sample_ids.length) {
    const list = $("#sample-ids");
    const fragment = document.createDocumentFragment();
    for (const id of cohort.sample_ids) {
      const option = document.createElement("option");
      option.value = id;
      fragment.appendChild(option);
    }
    list.replaceChildren(fragment);
    const name = $("#cohort-name");
    if (name) name.textContent = cohort.name ? ` (cohort ${cohort.name}, ${cohort.sample_ids.length} samples)` : "";
    sampleInput.placeholder = cohort.sample_ids[0];
    sampleField.hidden = false;
  } else {
    sampleField.hidden = true;
    sampleInput.value = "";
  }

  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files.length) sampleInput.value = "";
  });
  sampleInput.addEventListener("input", () => {
    if (sampleInput.value.trim()) fileInput.value = "";
  });
  modelSelect.addEventListener("change", () => onModelChange(currentModel()));

  function currentModel() {
    return models.find((m) => m.name === modelSelect.value) || null;
  }

  /** The genome to send: {model, file | sample, person}; throws a plain Error if none is chosen. */
  function currentQuery() {
    const model = currentModel();
    if (!model) throw new Error("Choose a model first.");
    const file = fileInput.files && fileInput.files.length ? fileInput.files[0] : null;
    const sample = sampleInput.value.trim();
    if (!file && !sample) {
      throw new Error(sampleField.hidden ? "Choose a genome file first." : "Choose a genome file or a cohort sample first.");
    }
    return { model: model.name, file, sample: file ? "" : sample, person: personInput ? personInput.value.trim() : "" };
  }

  return { info, models, cohort, currentModel, currentQuery };
}

/** The multipart form of a query: model, file or sample, person. */
export function queryForm(query) {
  const form = new FormData();
  form.append("model", query.model);
  if (query.file) form.append("file", query.file, query.file.name);
  else form.append("sample", query.sample);
  if (query.person) form.append("person", query.person);
  return form;
}
