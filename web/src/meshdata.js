// Pure helpers of the report's face-compare blocks (no DOM, no three.js): typed arrays from the
// base64 of little-endian binary, and the checked contents of a block's JSON. web/test/meshdata.test.mjs
// checks them under plain Node.

/** The bytes of a base64 string (whitespace ignored); throws on anything that is not base64. */
export function bytesFromBase64(text) {
  if (typeof text !== "string") throw new TypeError("expected a base64 string");
  let binary;
  try {
    binary = atob(text.replace(/\s+/g, ""));
  } catch {
    throw new Error("not valid base64");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function fourByteValues(text, what, read, Type) {
  let bytes;
  try {
    bytes = bytesFromBase64(text);
  } catch (err) {
    throw new Error(`${what}: ${err.message}`);
  }
  if (bytes.length % 4 !== 0) throw new Error(`${what}: ${bytes.length} bytes is not a whole number of 4-byte values`);
  // Read through a DataView so that the values are little-endian whatever the machine's byte order.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Type(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = read.call(view, i * 4, true);
  return out;
}

/** A Float32Array from the base64 of little-endian float32 values. */
export function float32FromBase64(text, what = "float32 data") {
  return fourByteValues(text, what, DataView.prototype.getFloat32, Float32Array);
}

/** A Uint32Array from the base64 of little-endian uint32 values. */
export function uint32FromBase64(text, what = "uint32 data") {
  return fourByteValues(text, what, DataView.prototype.getUint32, Uint32Array);
}

function isPlainObject(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/**
 * The checked, decoded contents of a face-compare block's JSON:
 *   {"triangles": b64 <u4, "n_vertices": n, "true": b64 <f4, "scale": [vmin, vmax], "units": "mm",
 *    "predictions": [{"model", "setting", "vertices": b64 <f4, "error_mm": b64 <f4}, ...]}
 * as {triangles: Uint32Array, nVertices, trueVertices: Float32Array, scale: [vmin, vmax], units,
 *     predictions: [{model, setting, label: "model \u2014 setting", vertices, error}]}.
 * Throws an Error with a one-line message on anything missing or inconsistent. Without `scale`, the
 * scale is 0 to the largest finite error of all predictions.
 */
export function parseComparePayload(data) {
  if (!isPlainObject(data)) throw new Error("the mesh data is not a JSON object");
  const triangles = uint32FromBase64(data.triangles, "triangles");
  if (triangles.length === 0 || triangles.length % 3 !== 0) {
    throw new Error(`triangles: ${triangles.length} indices is not a whole, non-zero number of triangles`);
  }
  const trueVertices = float32FromBase64(data.true, "true");
  if (trueVertices.length === 0 || trueVertices.length % 3 !== 0) {
    throw new Error(`true: ${trueVertices.length} numbers is not a whole number of vertices (x, y, z each)`);
  }
  const nVertices = trueVertices.length / 3;
  if (data.n_vertices != null && data.n_vertices !== nVertices) {
    throw new Error(`true: ${nVertices} vertices, but n_vertices is ${data.n_vertices}`);
  }
  let maxIndex = 0;
  for (let i = 0; i < triangles.length; i++) if (triangles[i] > maxIndex) maxIndex = triangles[i];
  if (maxIndex >= nVertices) throw new Error(`triangles refer to vertex ${maxIndex} of ${nVertices}`);

  const units = typeof data.units === "string" ? data.units : "mm";
  if (!Array.isArray(data.predictions) || data.predictions.length === 0) throw new Error("no predictions to show");
  const predictions = data.predictions.map((p, i) => {
    if (!isPlainObject(p)) throw new Error(`predictions[${i}] is not an object`);
    const model = p.model == null ? `model ${i + 1}` : String(p.model);
    const setting = p.setting == null ? "" : String(p.setting);
    const label = setting ? `${model} \u2014 ${setting}` : model;
    const vertices = float32FromBase64(p.vertices, `${label}: vertices`);
    if (vertices.length !== nVertices * 3) {
      throw new Error(`${label}: ${vertices.length / 3} vertices, expected ${nVertices}`);
    }
    const error = float32FromBase64(p.error_mm, `${label}: error_mm`);
    if (error.length !== nVertices) throw new Error(`${label}: ${error.length} errors, expected ${nVertices}`);
    return { model, setting, label, vertices, error };
  });

  let scale;
  if (data.scale == null) {
    let top = 0;
    for (const { error } of predictions) for (let i = 0; i < error.length; i++) if (error[i] > top && error[i] < Infinity) top = error[i];
    scale = [0, top > 0 ? top : 1];
  } else {
    const ok = Array.isArray(data.scale) && data.scale.length === 2 && data.scale.every((x) => typeof x === "number" && Number.isFinite(x));
    if (!ok || !(data.scale[1] > data.scale[0])) throw new Error(`scale must be [vmin, vmax] with vmin < vmax, got ${JSON.stringify(data.scale)}`);
    scale = [data.scale[0], data.scale[1]];
  }
  return { triangles, nVertices, trueVertices, scale, units, predictions };
}
