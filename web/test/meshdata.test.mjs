// Unit checks of the face-compare data (base64 little-endian arrays) and the sequential colour map:
// `npm test` in web/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SEQUENTIAL_GRADIENT_CSS, formatScale, sequentialRGB } from "../src/format.js";
import { bytesFromBase64, float32FromBase64, parseComparePayload, uint32FromBase64 } from "../src/meshdata.js";

/** base64 of little-endian float32 / uint32 values, written byte by byte as numpy's "<f4" / "<u4" do. */
function b64f32(values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString("base64");
}
function b64u32(values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeUInt32LE(v, i * 4));
  return buf.toString("base64");
}

test("base64 to bytes, and its errors", () => {
  assert.deepEqual([...bytesFromBase64("AAEC/w==")], [0, 1, 2, 255]);
  assert.deepEqual([...bytesFromBase64("AAEC\n/w==")], [0, 1, 2, 255]); // whitespace ignored
  assert.equal(bytesFromBase64("").length, 0);
  assert.throws(() => bytesFromBase64("not base64!"), /not valid base64/);
  assert.throws(() => bytesFromBase64(null), /base64 string/);
});

test("typed arrays from base64 are little-endian", () => {
  // 1.0f is 00 00 80 3f in little-endian order; 1 as uint32 is 01 00 00 00.
  assert.equal(Buffer.from([0x00, 0x00, 0x80, 0x3f]).toString("base64"), "AACAPw==");
  assert.deepEqual([...float32FromBase64("AACAPw==")], [1]);
  assert.deepEqual([...uint32FromBase64("AQAAAA==")], [1]);
  assert.deepEqual([...uint32FromBase64("AAAAAQ==")], [16777216]); // 00 00 00 01: not big-endian 1
  const floats = [0, -1.5, 3.25, 1e-7, 123456.5, Number.NaN];
  const got = float32FromBase64(b64f32(floats));
  assert.ok(got instanceof Float32Array);
  assert.deepEqual([...got], [...Float32Array.from(floats)]);
  const ints = [0, 2, 65535, 65536, 4294967295];
  const gotInts = uint32FromBase64(b64u32(ints));
  assert.ok(gotInts instanceof Uint32Array);
  assert.deepEqual([...gotInts], ints);
  assert.throws(() => float32FromBase64("AAEC", "true"), /true: 3 bytes is not a whole number of 4-byte values/);
});

test("sequential (magma-like) map: dark at 0, pale yellow at 1, clamped, brighter as it grows", () => {
  const bottom = sequentialRGB(0).map((c) => Math.round(c * 255));
  const top = sequentialRGB(1).map((c) => Math.round(c * 255));
  assert.deepEqual(bottom, [0, 0, 4]); // matplotlib magma(0) = (0.0015, 0.0005, 0.0139)
  assert.deepEqual(top, [252, 253, 191]); // magma(1) = (0.987, 0.991, 0.750)
  assert.deepEqual(sequentialRGB(7), sequentialRGB(1)); // above vmax: the top colour
  assert.deepEqual(sequentialRGB(-1), sequentialRGB(0));
  assert.deepEqual(sequentialRGB(Number.POSITIVE_INFINITY), sequentialRGB(1));
  assert.deepEqual(sequentialRGB(Number.NaN), sequentialRGB(0));
  const lum = (t) => sequentialRGB(t).reduce((s, c, k) => s + c * [0.2126, 0.7152, 0.0722][k], 0);
  for (let i = 1; i <= 20; i++) assert.ok(lum(i / 20) > lum((i - 1) / 20), `luminance grows at ${i / 20}`);
  const [r, g, b] = sequentialRGB(0.5).map((c) => Math.round(c * 255));
  assert.ok(Math.abs(r - 183) <= 3 && Math.abs(g - 55) <= 3 && Math.abs(b - 121) <= 3, "magma(0.5) is about (183, 55, 121)");
  assert.match(SEQUENTIAL_GRADIENT_CSS, /^linear-gradient\(to right, rgb\(0, 0, 4\) 0\.0%, .* rgb\(252, 253, 191\) 100\.0%\)$/);
});

test("fixed-scale legend text", () => {
  assert.equal(formatScale(0, 4.5), "0.0 mm \u2026 4.5 mm");
  assert.equal(formatScale(0, 0.05), "0.00 mm \u2026 0.05 mm");
  assert.equal(formatScale(-1, 2, ""), "\u22121.0 \u2026 2.0");
});

function payload(overrides = {}) {
  const vertices = [0, 0, 0, 100, 0, 0, 100, 150, 0, 0, 150, 10];
  return {
    triangles: b64u32([0, 1, 2, 0, 2, 3]),
    n_vertices: 4,
    true: b64f32(vertices),
    scale: [0.0, 4.5],
    units: "mm",
    predictions: [
      { model: "lippert", setting: "dna", vertices: b64f32(vertices.map((x) => x + 1)), error_mm: b64f32([1, 2, 3, 9]) },
      { model: "bayes", setting: "dna+covariates", vertices: b64f32(vertices), error_mm: b64f32([0, 0, 0, 0]) },
    ],
    ...overrides,
  };
}

test("face-compare payload: decoded and checked", () => {
  const data = parseComparePayload(payload());
  assert.equal(data.nVertices, 4);
  assert.deepEqual([...data.triangles], [0, 1, 2, 0, 2, 3]);
  assert.deepEqual([...data.trueVertices].slice(0, 6), [0, 0, 0, 100, 0, 0]);
  assert.deepEqual(data.scale, [0, 4.5]);
  assert.equal(data.units, "mm");
  assert.deepEqual(
    data.predictions.map((p) => p.label),
    ["lippert \u2014 dna", "bayes \u2014 dna+covariates"],
  );
  assert.deepEqual([...data.predictions[0].error], [1, 2, 3, 9]);
  assert.equal(data.predictions[0].vertices[0], 1);
  // Without a scale: 0 to the largest error of all predictions.
  assert.deepEqual(parseComparePayload(payload({ scale: undefined })).scale, [0, 9]);
});

test("face-compare payload: broken data gives one-line errors", () => {
  const bad = (overrides, pattern) => assert.throws(() => parseComparePayload(payload(overrides)), pattern);
  assert.throws(() => parseComparePayload([1, 2]), /not a JSON object/);
  bad({ triangles: "%%%" }, /triangles: not valid base64/);
  bad({ triangles: b64u32([0, 1]) }, /not a whole, non-zero number of triangles/);
  bad({ triangles: b64u32([0, 1, 4]) }, /refer to vertex 4 of 4/);
  bad({ n_vertices: 5042 }, /4 vertices, but n_vertices is 5042/);
  bad({ true: undefined }, /true: expected a base64 string/);
  bad({ predictions: [] }, /no predictions/);
  bad({ scale: [3, 1] }, /scale must be \[vmin, vmax\]/);
  bad({ scale: "wide" }, /scale must be/);
  const p = payload().predictions[0];
  bad({ predictions: [{ ...p, vertices: b64f32([1, 2, 3]) }] }, /lippert \u2014 dna: 1 vertices, expected 4/);
  bad({ predictions: [{ ...p, error_mm: b64f32([1, 2, 3]) }] }, /lippert \u2014 dna: 3 errors, expected 4/);
  bad({ predictions: [{ ...p, error_mm: undefined }] }, /lippert \u2014 dna: error_mm: expected a base64 string/);
});
