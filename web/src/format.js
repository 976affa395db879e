// Pure helpers shared by the viewer and the pages (no DOM, no three.js): the colour maps (diverging
// for signed differences, sequential for errors) and the number formats. web/test/format.test.mjs
// checks them under plain Node.

// RdBu (ColorBrewer) with a white centre, in sRGB 0..255: blue = inward (negative), red = outward.
const STOPS = [
  [-1, [33, 102, 172]],
  [-2 / 3, [103, 169, 207]],
  [-1 / 3, [209, 229, 240]],
  [0, [255, 255, 255]],
  [1 / 3, [253, 219, 199]],
  [2 / 3, [239, 138, 98]],
  [1, [178, 24, 43]],
];

/** CSS gradient of the colour map, left (negative) to right (positive). */
export const DIVERGING_GRADIENT_CSS = `linear-gradient(to right, ${STOPS.map(
  ([t, [r, g, b]]) => `rgb(${r}, ${g}, ${b}) ${(((t + 1) / 2) * 100).toFixed(1)}%`,
).join(", ")})`;

/** Linear interpolation in a [t, [r, g, b]] stop list (t ascending, 0..255) at t, as sRGB in [0, 1]. */
function interpolateStops(stops, t) {
  for (let i = 1; i < stops.length; i++) {
    const [t1, c1] = stops[i];
    if (t <= t1) {
      const [t0, c0] = stops[i - 1];
      const f = (t - t0) / (t1 - t0);
      return [0, 1, 2].map((k) => (c0[k] + f * (c1[k] - c0[k])) / 255);
    }
  }
  return stops[stops.length - 1][1].map((c) => c / 255);
}

/** The colour map at t in [-1, 1] (clamped; NaN gives white) as sRGB components in [0, 1]. */
export function divergingRGB(t) {
  if (!Number.isFinite(t)) t = Number.isNaN(t) ? 0 : Math.sign(t);
  return interpolateStops(STOPS, Math.max(-1, Math.min(1, t)));
}

// A sequential map for sizes (errors): matplotlib's "magma" sampled at 17 points (t = 0, 1/16, ..., 1)
// in sRGB 0..255; linear interpolation between them stays within 3/255 of the full 256-entry map.
// Black-purple = small, pale yellow = large.
const MAGMA_STOPS = [
  [0, 0, 4], [10, 8, 34], [29, 17, 71], [54, 16, 107], [81, 18, 124], [106, 28, 129],
  [131, 38, 129], [156, 46, 127], [183, 55, 121], [208, 65, 111], [231, 82, 99], [245, 107, 92],
  [252, 137, 97], [254, 167, 114], [254, 196, 136], [253, 226, 163], [252, 253, 191],
].map((rgb, i, all) => [i / (all.length - 1), rgb]);

/** CSS gradient of the sequential map, left (small) to right (large). */
export const SEQUENTIAL_GRADIENT_CSS = `linear-gradient(to right, ${MAGMA_STOPS.map(
  ([t, [r, g, b]]) => `rgb(${r}, ${g}, ${b}) ${(t * 100).toFixed(1)}%`,
).join(", ")})`;

/** The magma-like sequential map at t in [0, 1] (clamped; NaN gives the bottom colour) as sRGB in [0, 1]. */
export function sequentialRGB(t) {
  if (!Number.isFinite(t)) t = Number.isNaN(t) ? 0 : t > 0 ? 1 : 0;
  return interpolateStops(MAGMA_STOPS, Math.max(0, Math.min(1, t)));
}

/** sRGB component in [0, 1] to linear light (what three.js expects in a vertex colour attribute). */
export function srgbToLinear(c) {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** The symmetric half-range of a signed per-vertex array: max |d| over finite values (0 if none). */
export function symmetricRange(values) {
  let r = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > r) r = a; // NaN compares false and is skipped
  }
  return r;
}

const MINUS = "\u2212";

/** A signed length in mm with a true minus sign: "−3.2 mm", "+3.2 mm", "0.0 mm". */
export function formatMm(x, digits = Math.abs(x) > 0 && Math.abs(x) < 0.1 ? 2 : 1) {
  const text = Math.abs(x).toFixed(digits);
  const zero = Number(text) === 0;
  return `${zero ? "" : x < 0 ? MINUS : "+"}${text} mm`;
}

/** The legend's range text for a symmetric half-range r: "−3.2 mm … +3.2 mm". */
export function formatRange(r) {
  const digits = r > 0 && r < 0.1 ? 2 : 1;
  return `${formatMm(-r, digits)} \u2026 ${formatMm(r, digits)}`;
}

/** The legend's text for a fixed scale [vmin, vmax]: "0.0 mm \u2026 4.5 mm" (no sign on positives). */
export function formatScale(vmin, vmax, units = "mm") {
  const digits = Math.max(Math.abs(vmin), Math.abs(vmax)) < 0.1 && vmax > vmin ? 2 : 1;
  const one = (x) => {
    const text = Math.abs(x).toFixed(digits);
    return `${x < 0 && Number(text) !== 0 ? MINUS : ""}${text}${units ? ` ${units}` : ""}`;
  };
  return `${one(vmin)} \u2026 ${one(vmax)}`;
}

/** A probability as a percentage for a bar: "70%", "<1%", ">99%". */
export function formatPercent(p) {
  const pct = p * 100;
  if (pct > 0 && pct < 0.5) return "<1%";
  if (pct < 100 && pct >= 99.5) return ">99%";
  return `${Math.round(pct)}%`;
}

/** The first line of a message, trimmed and shortened: errors are shown as one line, never a trace. */
export function oneLine(message, max = 300) {
  const line = String(message ?? "").trim().split(/\r?\n/)[0].trim();
  return line.length > max ? `${line.slice(0, max - 1)}\u2026` : line;
}

/** A file-name-safe stem: "GF000001" stays, anything odd becomes "_". */
export function safeStem(name, fallback = "genoface") {
  const stem = String(name ?? "").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 80);
  return stem || fallback;
}

const TRAIT_TITLES = {
  sex: "Sex",
  ancestry: "Ancestry",
  eye_colour: "Eye colour",
  hair_colour: "Hair colour",
  hair_shade: "Hair shade",
  skin_colour: "Skin colour",
  height_cm: "Height",
  eye_colour_hirisplex_s: "Eye colour (HIrisPlex-S)",
  hair_colour_hirisplex_s: "Hair colour (HIrisPlex-S)",
  hair_shade_hirisplex_s: "Hair shade (HIrisPlex-S)",
  skin_colour_hirisplex_s: "Skin colour (HIrisPlex-S)",
};

/** A heading for a trait key: known names, else "some_trait_x" -> "Some trait x" (HIrisPlex-S kept). */
export function traitTitle(key) {
  if (TRAIT_TITLES[key]) return TRAIT_TITLES[key];
  let text = key.replace(/_hirisplex_s$/, "");
  const hirisplex = text !== key;
  text = text.replace(/_(cm|mm|kg|years|yr)$/, "").replace(/_/g, " ");
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return hirisplex ? `${text} (HIrisPlex-S)` : text;
}

/** The unit a trait key names by its suffix ("height_cm" -> "cm"), or "". */
export function traitUnit(key) {
  const m = /_(cm|mm|kg|years)$/.exec(key);
  return m ? m[1] : "";
}

function isPlainObject(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** label -> p pairs of a probabilities object, finite values only, in the given order. */
function probabilityPairs(obj) {
  return Object.entries(obj).filter(([, p]) => typeof p === "number" && Number.isFinite(p));
}

/** Is obj itself a distribution (e.g. traits.sex = {"F": 0.97, "M": 0.03})? */
function isBareDistribution(obj) {
  const pairs = Object.entries(obj);
  if (pairs.length < 2) return false;
  if (!pairs.every(([, p]) => typeof p === "number" && p >= 0 && p <= 1)) return false;
  const total = pairs.reduce((s, [, p]) => s + p, 0);
  return total > 0.98 && total < 1.02;
}

/**
 * The traits record of /api/predict as a list of panels to draw, in the record's order:
 * {key, title, kind: "probabilities", pairs: [[label, p], ...], note} for every entry with a
 * `probabilities` object (or that is itself a label -> p distribution summing to 1, like `sex`);
 * {key, title, kind: "interval", mean, lo, hi, unit} for every entry with a numeric `mean` and a
 * two-number `interval95`. Everything else (sample_id, basis, null probabilities, unknown shapes) is skipped.
 */
export function traitPanels(traits) {
  const panels = [];
  if (!isPlainObject(traits)) return panels;
  for (const [key, value] of Object.entries(traits)) {
    if (key === "sample_id" || key === "basis" || !isPlainObject(value)) continue;
    const title = traitTitle(key);
    if (isPlainObject(value.probabilities)) {
      const pairs = probabilityPairs(value.probabilities);
      if (pairs.length) panels.push({ key, title, kind: "probabilities", pairs, note: traitNote(value) });
    } else if (
      typeof value.mean === "number" &&
      Number.isFinite(value.mean) &&
      Array.isArray(value.interval95) &&
      value.interval95.length === 2 &&
      value.interval95.every((x) => typeof x === "number" && Number.isFinite(x))
    ) {
      const [lo, hi] = value.interval95;
      panels.push({ key, title, kind: "interval", mean: value.mean, lo: Math.min(lo, hi), hi: Math.max(lo, hi), unit: traitUnit(key), note: traitNote(value) });
    } else if (!("probabilities" in value) && isBareDistribution(value)) {
      panels.push({ key, title, kind: "probabilities", pairs: probabilityPairs(value), note: "" });
    }
  }
  return panels;
}

/** A short line under a trait: the most likely population, a citation, when the record has them. */
function traitNote(value) {
  const parts = [];
  if (typeof value.population === "string" && value.population) parts.push(`Most likely: ${value.population}`);
  const cite = value.citation;
  if (typeof cite === "string" && cite) parts.push(cite);
  else if (Array.isArray(cite)) {
    const strings = cite.filter((c) => typeof c === "string" && c);
    if (strings.length) parts.push(strings.join("; "));
  }
  return parts.join(" \u00b7 ");
}

/** The scale an interval is drawn on: a fixed one for height, else the interval widened by half each side. */
export function intervalScale(key, lo, hi) {
  if (key === "height_cm" && lo >= 130 && hi <= 220) return [130, 220];
  const pad = Math.max((hi - lo) * 0.5, Math.abs(hi) * 0.05, 1e-9);
  return [lo - pad, hi + pad];
}

/** A number for display with about three significant digits ("171.2", "0.53"). */
export function formatNumber(x) {
  const a = Math.abs(x);
  const strip = (text) => (text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text);
  if (a >= 100) return strip(x.toFixed(1));
  if (a >= 1) return strip(x.toFixed(2));
  return a === 0 ? "0" : strip(x.toPrecision(2));
}
