// Entry of src/genoface/report/static/face_viewer.js, inlined into the static HTML report (works
// from file:// with no server and no network). For every
//   <div class="face-viewer" data-mesh="ID"></div>
//   <script type="application/json" id="ID">{"triangles": [...], "vertices": [...], "difference_mm": [...]}</script>
// it shows a FaceViewer: difference mode when difference_mm is given, shaded otherwise. For every
//   <div class="face-compare" data-mesh="ID"></div>
//   <script type="application/json" id="ID">{"triangles": b64, "n_vertices": n, "true": b64,
//     "scale": [vmin, vmax], "units": "mm", "predictions": [{"model", "setting", "vertices": b64, "error_mm": b64}]}</script>
// (b64: base64 of little-endian uint32 triangles, float32 x, y, z vertices and float32 errors) it
// shows one person's true face, a prediction and its error heatmap side by side, with a chooser of
// the prediction (model and setting): three viewers per person whatever the number of models, as a
// page may hold only about 16 WebGL contexts.
import { parseComparePayload } from "./meshdata.js";
import { FaceViewer, linkViews } from "./viewer.js";

const viewers = [];
const compares = [];
window.genofaceReport = { viewers, compares, FaceViewer };

function errorText(err) {
  return err && err.message ? err.message : String(err);
}

function fail(div, message) {
  div.dataset.error = message;
  const p = document.createElement("p");
  p.className = "face-viewer-error";
  p.textContent = message;
  div.appendChild(p);
}

function el(tag, className, style) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (style) Object.assign(node.style, style);
  return node;
}

function startViewer(div) {
  const source = document.getElementById(div.dataset.mesh);
  if (!source) {
    fail(div, `No mesh data for this face (${div.dataset.mesh}).`);
    return;
  }
  try {
    const mesh = JSON.parse(source.textContent);
    const difference = Array.isArray(mesh.difference_mm) ? mesh.difference_mm : null;
    viewers.push(
      new FaceViewer(div, {
        triangles: mesh.triangles,
        meanVertices: mesh.vertices,
        difference,
        mode: difference ? "difference" : "shaded",
      }),
    );
  } catch (err) {
    fail(div, `Could not show this face: ${errorText(err)}`);
  }
}

/*
 * Builds, inside div.face-compare:
 *   <label class="face-compare-control">Model and setting <select class="face-compare-choice">
 *     <option value="0">lippert \u2014 dna</option>...</select></label>
 *   <div class="face-compare-row">
 *     <figure class="face-compare-figure" data-role="true"><div class="face-compare-viewer"></div><figcaption>true face</figcaption></figure>
 *     <figure class="face-compare-figure" data-role="predicted">...<figcaption>predicted</figcaption></figure>
 *     <figure class="face-compare-figure" data-role="error">...<figcaption>error (mm)</figcaption></figure>
 *   </div>
 * The div's data-ready is "1" once all three viewers have rendered what they show (back to "0" while
 * a new choice is on its way); data-choice, data-model and data-setting name the shown prediction.
 */
function startCompare(div) {
  const source = document.getElementById(div.dataset.mesh);
  if (!source) {
    fail(div, `No mesh data for these faces (${div.dataset.mesh}).`);
    return;
  }
  let data;
  try {
    data = parseComparePayload(JSON.parse(source.textContent));
  } catch (err) {
    fail(div, `Could not show these faces: ${errorText(err)}`);
    return;
  }
  const { triangles, trueVertices, scale, units, predictions } = data;
  div.dataset.ready = "0";

  const control = el("label", "face-compare-control", { display: "inline-block", margin: "0 0 6px", fontSize: "14px" });
  control.append("Model and setting ");
  const select = el("select", "face-compare-choice");
  predictions.forEach((p, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = p.label;
    select.appendChild(option);
  });
  select.selectedIndex = 0;
  control.appendChild(select);

  const row = el("div", "face-compare-row", { display: "flex", flexWrap: "wrap", gap: "10px" });
  const boxes = {};
  for (const [role, caption] of [
    ["true", "true face"],
    ["predicted", "predicted"],
    ["error", `error (${units})`],
  ]) {
    const figure = el("figure", "face-compare-figure", { margin: "0", flex: "1 1 220px", minWidth: "0" });
    figure.dataset.role = role;
    const box = el("div", "face-compare-viewer", { height: "340px" });
    const figcaption = el("figcaption", null, { fontSize: "13px", textAlign: "center", marginTop: "2px" });
    figcaption.textContent = caption;
    figure.append(box, figcaption);
    row.appendChild(figure);
    boxes[role] = box;
  }
  div.append(control, row);

  // data-ready: every viewer has rendered since the last change of what it shows.
  const pending = new Set(Object.values(boxes));
  for (const box of pending) {
    box.addEventListener("gf-render", () => {
      pending.delete(box);
      if (pending.size === 0) div.dataset.ready = "1";
    });
  }

  const first = predictions[0];
  const made = [];
  try {
    made.push(new FaceViewer(boxes.true, { triangles, meanVertices: trueVertices }));
    made.push(new FaceViewer(boxes.predicted, { triangles, meanVertices: first.vertices }));
    made.push(
      new FaceViewer(boxes.error, { triangles, meanVertices: first.vertices, values: first.error, valueRange: scale, units, mode: "error" }),
    );
  } catch (err) {
    for (const v of made) v.dispose();
    control.remove();
    row.remove();
    delete div.dataset.ready;
    fail(div, `Could not show these faces: ${errorText(err)}`);
    return;
  }
  const [trueViewer, predictedViewer, errorViewer] = made;
  viewers.push(...made);
  if (made.some((v) => v._failed)) div.dataset.webgl = "0";
  linkViews(made);

  const show = (i) => {
    const p = predictions[i];
    div.dataset.choice = String(i);
    div.dataset.model = p.model;
    div.dataset.setting = p.setting;
  };
  show(0);
  const choose = (i) => {
    const p = predictions[i];
    if (!p) return;
    if (select.selectedIndex !== i) select.selectedIndex = i;
    if (!predictedViewer._failed) {
      pending.add(boxes.predicted);
      pending.add(boxes.error);
      div.dataset.ready = "0";
    }
    predictedViewer.setVertices(p.vertices); // in place: the camera stays where it is
    errorViewer.setVertices(p.vertices);
    errorViewer.setValues(p.error, scale[0], scale[1]);
    show(i);
  };
  select.addEventListener("change", () => choose(Number(select.value)));
  compares.push({ element: div, select, viewers: { true: trueViewer, predicted: predictedViewer, error: errorViewer }, choose });
}

function start() {
  for (const div of document.querySelectorAll("div.face-viewer[data-mesh]")) {
    if (div.dataset.ready) continue; // already started
    startViewer(div);
  }
  for (const div of document.querySelectorAll("div.face-compare[data-mesh]")) {
    if (div.dataset.ready || div.dataset.error) continue; // already started
    startCompare(div);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
