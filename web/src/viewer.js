// FaceViewer: one face mesh in a three.js canvas, shared by the serve pages (app.js) and the
// static report (report.js). Faces are in millimetres, x to the subject's left, y up, z toward the
// viewer; the camera looks from +z. Only the three.js parts used here are imported (tree-shaken).
import {
  BufferAttribute,
  BufferGeometry,
  Color,
  DirectionalLight,
  DoubleSide,
  HemisphereLight,
  Mesh,
  MeshStandardMaterial,
  PerspectiveCamera,
  Scene,
  SRGBColorSpace,
  Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import {
  DIVERGING_GRADIENT_CSS,
  SEQUENTIAL_GRADIENT_CSS,
  divergingRGB,
  formatRange,
  formatScale,
  sequentialRGB,
  srgbToLinear,
  symmetricRange,
} from "./format.js";

const SKIN = 0xd8b4a0;
const BACKGROUND = 0xf2f3f5;
const FOV = 24; // degrees, vertical
const MODES = ["shaded", "difference", "error"];

// 256-entry lookups of the colour maps in linear light: index 0 = -1 (diverging) or 0 (sequential),
// 255 = +1 or 1.
function lookup(rgbAt) {
  const lut = new Float32Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const rgb = rgbAt(i / 255);
    for (let k = 0; k < 3; k++) lut[i * 3 + k] = srgbToLinear(rgb[k]);
  }
  return lut;
}
const LUT = lookup((f) => divergingRGB(f * 2 - 1));
const SEQUENTIAL_LUT = lookup(sequentialRGB);

function el(tag, className, style) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (style) Object.assign(node.style, style);
  return node;
}

export class FaceViewer {
  /**
   * @param {HTMLElement} container  the element the canvas (and the difference legend) go in
   * @param {{triangles: ArrayLike<number>, meanVertices: ArrayLike<number>, vertices?: ArrayLike<number>,
   *          difference?: ArrayLike<number>, differenceRange?: number, values?: ArrayLike<number>,
   *          valueRange?: [number, number], units?: string, mode?: "shaded"|"difference"|"error"}} options
   *   triangles: flat vertex indices (3 per triangle); meanVertices: flat x, y, z of the population
   *   mean face (frames the camera, and is the first shape shown unless `vertices` is given);
   *   values/valueRange: per-vertex sizes and their fixed scale for the "error" mode (setValues);
   *   units: of those values, for its legend ("mm").
   */
  constructor(container, options = {}) {
    const { triangles, meanVertices, vertices = null, difference = null, differenceRange = null, mode = "shaded" } = options;
    const { values = null, valueRange = null, units = "mm" } = options;
    if (!container) throw new Error("FaceViewer needs a container element");
    if (!triangles || !meanVertices || meanVertices.length % 3 !== 0 || triangles.length % 3 !== 0) {
      throw new Error("FaceViewer needs flat triangles and vertices (3 numbers each)");
    }
    this.container = container;
    this.mode = "shaded";
    this.nVertices = meanVertices.length / 3;
    this.differenceRange = 0;
    this._hasDifference = false;
    this.valueRange = null; // [vmin, vmax] of the "error" mode, once setValues has run
    this.units = units;
    this._differenceColours = null; // linear RGB per vertex of each colour mode, shown by setMode
    this._valueColours = null;
    this._contentChanged = true;
    this._frame = 0;
    this._disposed = false;
    this._failed = false;
    this._size = [0, 0];

    let maxIndex = 0;
    for (let i = 0; i < triangles.length; i++) if (triangles[i] > maxIndex) maxIndex = triangles[i];
    if (maxIndex >= this.nVertices) throw new Error(`triangles refer to vertex ${maxIndex} of ${this.nVertices}`);

    container.dataset.ready = "0";
    if (!container.dataset.renders) container.dataset.renders = "0";
    if (getComputedStyle(container).position === "static") container.style.position = "relative";
    if (container.clientHeight < 20) container.style.height = "420px";

    try {
      this.renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    } catch (err) {
      this._fail();
      return;
    }
    const renderer = this.renderer;
    renderer.outputColorSpace = SRGBColorSpace;
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const canvas = renderer.domElement;
    canvas.className = "gf-canvas";
    Object.assign(canvas.style, { display: "block", width: "100%", height: "100%", outline: "none", touchAction: "none" });
    canvas.setAttribute("aria-label", "3D face: drag to rotate, scroll to zoom");
    container.appendChild(canvas);

    // Geometry: positions updated in place, a colour per vertex for the difference or error map.
    this.positions = Float32Array.from(meanVertices);
    this.colours = new Float32Array(this.positions.length).fill(1);
    const geometry = new BufferGeometry();
    geometry.setAttribute("position", new BufferAttribute(this.positions, 3));
    geometry.setAttribute("color", new BufferAttribute(this.colours, 3));
    const IndexArray = this.nVertices > 65535 ? Uint32Array : Uint16Array;
    geometry.setIndex(new BufferAttribute(IndexArray.from(triangles), 1));
    geometry.computeVertexNormals();
    geometry.computeBoundingBox();
    geometry.computeBoundingSphere();
    this.geometry = geometry;

    this.materials = {
      shaded: new MeshStandardMaterial({ color: SKIN, roughness: 0.62, metalness: 0, side: DoubleSide }),
      difference: new MeshStandardMaterial({ color: 0xffffff, vertexColors: true, roughness: 0.9, metalness: 0, side: DoubleSide }),
    };
    this.materials.error = this.materials.difference; // the same vertex-coloured surface, other colours
    this.mesh = new Mesh(geometry, this.materials.shaded);

    const scene = new Scene();
    scene.background = new Color(BACKGROUND);
    scene.add(this.mesh);
    scene.add(new HemisphereLight(0xffffff, 0x8a8078, 1.1));
    const camera = new PerspectiveCamera(FOV, 1, 1, 10000);
    // A key light that turns with the camera: from the upper right of the view.
    const key = new DirectionalLight(0xffffff, 2.0);
    key.position.set(0.6, 0.8, 0);
    key.target.position.set(0, 0, -1);
    camera.add(key, key.target);
    scene.add(camera);
    this.scene = scene;
    this.camera = camera;

    this.controls = new OrbitControls(camera, canvas);
    this.controls.enableDamping = false;
    this.controls.addEventListener("change", () => this.requestRender());

    this._buildLegend();
    this._resize();
    this._frameCamera(geometry.boundingBox);

    this._onResize = () => this._resize();
    if (typeof ResizeObserver !== "undefined") {
      this._observer = new ResizeObserver(this._onResize);
      this._observer.observe(container);
    } else {
      window.addEventListener("resize", this._onResize);
    }
    canvas.addEventListener("dblclick", () => this.resetView());

    if (vertices) this.setVertices(vertices);
    if (difference) this.setDifference(difference, differenceRange);
    if (values) this.setValues(values, ...(valueRange || []));
    this.setMode(mode);
    this.requestRender();
  }

  /** Replace the vertex positions in place (same template); the camera stays where it is. */
  setVertices(vertices) {
    if (this._failed) return;
    if (!vertices || vertices.length !== this.positions.length) {
      throw new Error(`expected ${this.positions.length} vertex coordinates, got ${vertices ? vertices.length : 0}`);
    }
    this.positions.set(vertices);
    this.geometry.attributes.position.needsUpdate = true;
    this.geometry.computeVertexNormals();
    this.geometry.computeBoundingBox();
    this.geometry.computeBoundingSphere();
    this._changed();
  }

  /**
   * Per-vertex signed distances in mm (negative = inward, positive = outward) for the difference
   * mode. `range` fixes the symmetric colour scale (e.g. shared by side-by-side faces); by default
   * it is max |d| of these values.
   */
  setDifference(values, range = null) {
    if (this._failed) return;
    if (!values || values.length !== this.nVertices) {
      throw new Error(`expected ${this.nVertices} per-vertex differences, got ${values ? values.length : 0}`);
    }
    const r = range != null && Number.isFinite(range) && range > 0 ? range : symmetricRange(values);
    const scale = r > 0 ? 1 / r : 0;
    const c = this._differenceColours || new Float32Array(this.nVertices * 3);
    for (let i = 0; i < this.nVertices; i++) {
      let t = values[i] * scale;
      if (!Number.isFinite(t)) t = Number.isNaN(t) ? 0 : Math.sign(t);
      const j = Math.round((Math.max(-1, Math.min(1, t)) + 1) * 127.5) * 3;
      c[i * 3] = LUT[j];
      c[i * 3 + 1] = LUT[j + 1];
      c[i * 3 + 2] = LUT[j + 2];
    }
    this._differenceColours = c;
    this.differenceRange = r;
    this._hasDifference = true;
    this._showColours();
    this._updateLegend();
    this._changed();
  }

  /**
   * Per-vertex sizes (e.g. errors in mm, >= 0) for the "error" mode, on the fixed scale [vmin, vmax]
   * of a sequential map close to matplotlib's magma: dark = vmin or less, bright = vmax or more
   * (NaN takes the bottom colour). A shared scale keeps side-by-side faces comparable; by default it
   * is 0 to the largest finite value.
   */
  setValues(values, vmin = null, vmax = null) {
    if (this._failed) return;
    if (!values || values.length !== this.nVertices) {
      throw new Error(`expected ${this.nVertices} per-vertex values, got ${values ? values.length : 0}`);
    }
    let lo = vmin != null && Number.isFinite(vmin) ? vmin : 0;
    let hi = vmax;
    if (hi == null || !Number.isFinite(hi)) {
      hi = lo;
      for (let i = 0; i < values.length; i++) if (values[i] > hi && values[i] < Infinity) hi = values[i];
    }
    if (!(hi > lo)) hi = lo + 1;
    const scale = 255 / (hi - lo);
    const c = this._valueColours || new Float32Array(this.nVertices * 3);
    for (let i = 0; i < this.nVertices; i++) {
      let t = (values[i] - lo) * scale;
      if (Number.isNaN(t)) t = 0;
      const j = Math.round(Math.max(0, Math.min(255, t))) * 3;
      c[i * 3] = SEQUENTIAL_LUT[j];
      c[i * 3 + 1] = SEQUENTIAL_LUT[j + 1];
      c[i * 3 + 2] = SEQUENTIAL_LUT[j + 2];
    }
    this._valueColours = c;
    this.valueRange = [lo, hi];
    this._showColours();
    this._updateLegend();
    this._changed();
  }

  /**
   * "shaded" (skin-coloured surface), "difference" (diverging colours by setDifference) or "error"
   * (sequential colours by setValues); the two colour modes show a legend.
   */
  setMode(mode) {
    if (!MODES.includes(mode)) throw new Error(`unknown mode ${mode}; use "shaded", "difference" or "error"`);
    if (this._failed) return;
    this.mode = mode;
    this.container.dataset.mode = mode;
    this.mesh.material = this.materials[mode];
    this._showColours();
    this._updateLegend();
    this._changed();
  }

  /** The camera's position, orientation and orbit target now (copies), for setView. */
  getView() {
    if (this._failed) return null;
    return {
      position: this.camera.position.clone(),
      quaternion: this.camera.quaternion.clone(),
      target: this.controls.target.clone(),
    };
  }

  /** Move the camera to a view from getView() (e.g. another viewer's); the controls emit "change". */
  setView(view) {
    if (this._failed || this._disposed || !view) return;
    this.camera.position.copy(view.position);
    this.camera.quaternion.copy(view.quaternion);
    this.controls.target.copy(view.target);
    this.controls.update();
    this.requestRender();
  }

  /** Back to the first view (also on double-click). */
  resetView() {
    if (this._failed || !this._home) return;
    this.camera.position.copy(this._home.position);
    this.controls.target.copy(this._home.target);
    this.controls.update();
    this.requestRender();
  }

  /** A PNG of the canvas as it is now. */
  pngBlob() {
    if (this._failed) return Promise.reject(new Error("3D view unavailable (no WebGL)"));
    this.renderer.render(this.scene, this.camera);
    return new Promise((resolve, reject) => {
      this.renderer.domElement.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("could not encode the PNG"))), "image/png");
    });
  }

  /** Schedule one render on the next animation frame (renders are on demand, not a loop). */
  requestRender() {
    if (this._failed || this._disposed || this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this._render();
    });
  }

  dispose() {
    if (this._disposed) return;
    this._disposed = true;
    if (this._failed) {
      this._message?.remove();
      return;
    }
    if (this._frame) cancelAnimationFrame(this._frame);
    this._frame = 0;
    if (this._observer) this._observer.disconnect();
    else window.removeEventListener("resize", this._onResize);
    this.controls.dispose();
    this.geometry.dispose();
    this.materials.shaded.dispose();
    this.materials.difference.dispose(); // also the "error" material
    this.renderer.dispose();
    this.renderer.forceContextLoss();
    this.renderer.domElement.remove();
    this.legend.remove();
    delete this.container.dataset.mode;
    this.container.dataset.ready = "0";
  }

  // --- internals -------------------------------------------------------------------------------

  _changed() {
    this._contentChanged = true;
    this.requestRender();
  }

  _render() {
    if (this._disposed) return;
    this.renderer.render(this.scene, this.camera);
    if (this._contentChanged) {
      // Browser tests wait on these: a render that shows a new mesh, mode or colouring has happened.
      this._contentChanged = false;
      this.container.dataset.renders = String((Number(this.container.dataset.renders) || 0) + 1);
      this.container.dataset.ready = "1";
      this.container.dispatchEvent(new CustomEvent("gf-render", { detail: { renders: Number(this.container.dataset.renders) } }));
    }
  }

  /** The colours of the current colour mode into the geometry (shaded ignores them). */
  _showColours() {
    const source = this.mode === "error" ? this._valueColours : this.mode === "difference" ? this._differenceColours : null;
    if (!source) return;
    this.colours.set(source);
    this.geometry.attributes.color.needsUpdate = true;
  }

  _resize() {
    if (this._disposed) return;
    const w = Math.max(1, Math.round(this.container.clientWidth));
    const h = Math.max(1, Math.round(this.container.clientHeight));
    if (w === this._size[0] && h === this._size[1]) return;
    this._size = [w, h];
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  _frameCamera(box) {
    const centre = box.getCenter(new Vector3());
    const size = box.getSize(new Vector3());
    const span = Math.max(size.length(), 1);
    const tan = Math.tan((FOV * Math.PI) / 360);
    const height = Math.max(size.y, span * 0.2) * 1.15;
    const width = Math.max(size.x, span * 0.2) * 1.15;
    const distance = Math.max(height / 2 / tan, width / 2 / (tan * this.camera.aspect)) + size.z / 2;
    this.camera.position.set(centre.x, centre.y, centre.z + distance);
    this.camera.near = Math.max(distance / 100, 0.01);
    this.camera.far = distance * 20 + span * 2;
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(centre);
    this.controls.minDistance = distance * 0.15;
    this.controls.maxDistance = distance * 6;
    this.controls.update();
    this._home = { position: this.camera.position.clone(), target: centre.clone() };
  }

  _buildLegend() {
    const legend = el("div", "gf-legend", {
      position: "absolute",
      right: "8px",
      bottom: "8px",
      display: "none",
      width: "150px",
      padding: "6px 8px",
      borderRadius: "4px",
      background: "rgba(255, 255, 255, 0.9)",
      boxShadow: "0 1px 3px rgba(0, 0, 0, 0.2)",
      color: "#1f2328",
      font: "12px/1.35 system-ui, -apple-system, 'Segoe UI', sans-serif",
      pointerEvents: "none",
    });
    legend.setAttribute("role", "img");
    const title = el("div", "gf-legend-title", { fontWeight: "600", marginBottom: "3px" });
    title.textContent = "Difference from mean";
    const bar = el("div", "gf-legend-bar", { height: "10px", borderRadius: "2px", background: DIVERGING_GRADIENT_CSS, border: "1px solid rgba(0, 0, 0, 0.15)" });
    const ticks = el("div", "gf-legend-ticks", { display: "flex", justifyContent: "space-between", fontSize: "11px", color: "#57606a" });
    for (const text of ["inward", "0", "outward"]) {
      const span = el("span");
      span.textContent = text;
      ticks.appendChild(span);
    }
    const range = el("div", "gf-legend-range", { marginTop: "2px", fontVariantNumeric: "tabular-nums", whiteSpace: "nowrap" });
    legend.append(title, bar, ticks, range);
    this.legend = legend;
    this.legendTitle = title;
    this.legendBar = bar;
    this.legendTicks = ticks;
    this.legendRange = range;
    this.container.appendChild(legend);
  }

  _updateLegend() {
    if (!this.legend) return;
    const show = this.mode === "difference" || this.mode === "error";
    this.legend.style.display = show ? "block" : "none";
    this.legend.hidden = !show;
    this.legend.dataset.scale = this.mode === "error" ? "sequential" : "diverging";
    if (this.mode === "error") {
      this.legendTitle.textContent = "Error";
      this.legendBar.style.background = SEQUENTIAL_GRADIENT_CSS;
      this.legendTicks.style.display = "none";
      if (this.valueRange) {
        const [lo, hi] = this.valueRange;
        const text = formatScale(lo, hi, this.units);
        this.legendRange.textContent = text;
        this.legend.dataset.min = String(lo);
        this.legend.dataset.max = String(hi);
        this.legend.setAttribute("aria-label", `Error, dark small to bright large: ${text}; larger values take the top colour`);
      } else {
        this.legendRange.textContent = "no error data";
        delete this.legend.dataset.min;
        delete this.legend.dataset.max;
        this.legend.removeAttribute("aria-label");
      }
      return;
    }
    this.legendTitle.textContent = "Difference from mean";
    this.legendBar.style.background = DIVERGING_GRADIENT_CSS;
    this.legendTicks.style.display = "flex";
    const r = this.differenceRange;
    if (this._hasDifference) {
      const text = formatRange(r);
      this.legendRange.textContent = text;
      this.legend.dataset.min = String(-r);
      this.legend.dataset.max = String(r);
      this.legend.setAttribute("aria-label", `Difference from the mean face, blue inward to red outward: ${text}`);
    } else {
      this.legendRange.textContent = "no difference data";
      delete this.legend.dataset.min;
      delete this.legend.dataset.max;
      this.legend.removeAttribute("aria-label");
    }
  }

  _fail() {
    this._failed = true;
    this.container.dataset.webgl = "0";
    const message = el("div", "gf-no-webgl", {
      display: "flex",
      alignItems: "center",
      justifyContent: "center",
      height: "100%",
      padding: "1em",
      textAlign: "center",
      color: "#57606a",
      font: "14px system-ui, sans-serif",
    });
    message.textContent = "This browser cannot show the 3D face (WebGL is unavailable or turned off).";
    this._message = message;
    this.container.appendChild(message);
  }
}

/**
 * Make viewers of the same template turn and zoom together: the others take the first working
 * viewer's framing (camera, zoom limits, double-click home), and a move in any of them (drag,
 * scroll, double-click reset) is copied to the rest. Viewers without WebGL are left out. Returns a
 * function that unlinks them.
 */
export function linkViews(viewers) {
  const live = viewers.filter((v) => v && !v._failed && !v._disposed);
  if (live.length < 2) return () => {};
  const lead = live[0];
  for (const v of live.slice(1)) {
    v.camera.near = lead.camera.near;
    v.camera.far = lead.camera.far;
    v.camera.updateProjectionMatrix();
    v.controls.minDistance = lead.controls.minDistance;
    v.controls.maxDistance = lead.controls.maxDistance;
    v._home = { position: lead._home.position.clone(), target: lead._home.target.clone() };
    v.setView(lead.getView());
  }
  let syncing = false; // a copied move makes the others' controls emit "change" too: ignore those
  const links = live.map((v) => {
    const onChange = () => {
      if (syncing) return;
      syncing = true;
      try {
        const view = v.getView();
        for (const other of live) if (other !== v) other.setView(view);
      } finally {
        syncing = false;
      }
    };
    v.controls.addEventListener("change", onChange);
    return [v, onChange];
  });
  return () => {
    for (const [v, onChange] of links) v.controls.removeEventListener("change", onChange);
  };
}
