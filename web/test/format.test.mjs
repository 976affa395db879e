// Unit checks of the pure helpers (no browser): `npm test` in web/.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  divergingRGB,
  formatMm,
  formatPercent,
  formatRange,
  oneLine,
  safeStem,
  symmetricRange,
  traitPanels,
  traitTitle,
} from "../src/format.js";

test("diverging map: blue below zero, white at zero, red above", () => {
  assert.deepEqual(divergingRGB(0), [1, 1, 1]);
  const [r0, , b0] = divergingRGB(-1);
  assert.ok(b0 > r0);
  const [r1, , b1] = divergingRGB(1);
  assert.ok(r1 > b1);
  assert.deepEqual(divergingRGB(-5), divergingRGB(-1));
  assert.deepEqual(divergingRGB(Number.NaN), [1, 1, 1]);
});

test("mm formats use a true minus sign and a symmetric range", () => {
  assert.equal(formatRange(3.21), "\u22123.2 mm \u2026 +3.2 mm");
  assert.equal(formatMm(-0.04), "\u22120.04 mm");
  assert.equal(formatMm(0), "0.0 mm");
  assert.equal(symmetricRange([-3.2, 1, Number.NaN, 2.5]), 3.2);
});

test("percent, one line, file stems", () => {
  assert.equal(formatPercent(0.7), "70%");
  assert.equal(formatPercent(0.001), "<1%");
  assert.equal(formatPercent(0.999), ">99%");
  assert.equal(oneLine("bad file\n  at line 3"), "bad file");
  assert.equal(safeStem("GF000001"), "GF000001");
  assert.equal(safeStem("../a b"), "a_b");
  assert.equal(safeStem(""), "genoface");
});

test("trait panels: probabilities, intervals, bare distributions; the rest skipped", () => {
  const panels = traitPanels({
    sample_id: "GF000001",
    basis: "dna",
    sex: { F: 0.97, M: 0.03 },
    ancestry: { population: "EUR", probabilities: { EUR: 0.9, EAS: 0.1 } },
    eye_colour: { probabilities: { blue: 0.7, intermediate: 0.2, brown: 0.1 } },
    height_cm: { mean: 171.2, interval95: [160.1, 182.3] },
    eye_colour_hirisplex_s: { probabilities: null, citation: ["Chaitanya 2018"] },
    something_new: { probabilities: { a: 0.5, b: 0.5 } },
    odd: { value: 3 },
    list: [1, 2],
  });
  assert.deepEqual(
    panels.map((p) => [p.key, p.kind]),
    [
      ["sex", "probabilities"],
      ["ancestry", "probabilities"],
      ["eye_colour", "probabilities"],
      ["height_cm", "interval"],
      ["something_new", "probabilities"],
    ],
  );
  assert.equal(panels[1].note, "Most likely: EUR");
  assert.equal(panels[3].unit, "cm");
  assert.equal(traitTitle("eye_colour_hirisplex_s"), "Eye colour (HIrisPlex-S)");
  assert.equal(traitTitle("freckles_hirisplex_s"), "Freckles (HIrisPlex-S)");
});
