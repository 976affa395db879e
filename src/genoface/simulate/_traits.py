"""Simulated appearance traits: eye, hair and skin colour from a pigmentation SNP panel, and height.

The panel SNPs carry the rsIDs of the HIrisPlex-S markers so that tools which look markers up
by rsID (IrisPlex-style predictors, consumer files) find them; in a simulated cohort they are
simulated stand-ins chosen among coalescent SNPs whose ALT allele is enriched in the European
deme, and their effects are this simulator's own, in the IrisPlex model form (multinomial
logit for eye and hair colour, an ordinal logit for skin colour) — not published coefficients.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.files import write_json

EYE_COLOURS = ("blue", "intermediate", "brown")
HAIR_COLOURS = ("blond", "brown", "red", "black")
SKIN_COLOURS = ("very pale", "pale", "intermediate", "dark", "dark to black")

# The panel: rsID, gene, and this simulator's per-ALT-allele effects on the light-pigment
# liabilities (eye: blue vs brown, intermediate vs brown; hair: blond, brown-vs-black, red;
# skin: darkness). HERC2 rs12913832 dominates eye colour, as in IrisPlex; MC1R drives red hair.
PANEL: tuple[tuple[str, str, dict[str, float]], ...] = (
    ("rs12913832", "HERC2", {"eye_blue": 2.2, "eye_int": 1.0, "hair_blond": 1.0, "hair_brown": 0.4, "skin": -0.6}),
    ("rs1800407", "OCA2", {"eye_blue": 0.6, "eye_int": 0.5, "skin": -0.1}),
    ("rs12896399", "SLC24A4", {"eye_blue": 0.4, "eye_int": 0.2, "hair_blond": 0.4}),
    ("rs16891982", "SLC45A2", {"eye_blue": 0.8, "eye_int": 0.4, "hair_blond": 0.6, "hair_brown": 0.5, "skin": -1.0}),
    ("rs1393350", "TYR", {"eye_blue": 0.3, "eye_int": 0.2, "hair_blond": 0.2, "skin": -0.2}),
    ("rs12203592", "IRF4", {"eye_blue": 0.4, "eye_int": 0.2, "hair_blond": 0.5, "hair_brown": 0.3, "skin": -0.4}),
    ("rs1805007", "MC1R", {"hair_red": 2.0, "skin": -0.3}),
    ("rs1805008", "MC1R", {"hair_red": 1.6, "skin": -0.2}),
    ("rs1805009", "MC1R", {"hair_red": 1.8, "skin": -0.2}),
    ("rs1426654", "SLC24A5", {"skin": -1.4, "hair_brown": 0.3}),
    ("rs2402130", "SLC24A4", {"eye_blue": 0.2, "skin": -0.2}),
    ("rs28777", "SLC45A2", {"hair_blond": 0.3, "skin": -0.4}),
)
# Intercepts of the liabilities, and per-population shifts (darker pigment outside Europe).
_INTERCEPT = {"eye_blue": -5.0, "eye_int": -3.0, "hair_blond": -3.5, "hair_brown": -1.0, "hair_red": -5.5}
_SKIN_CUTS = np.array([-2.5, -1.0, 1.0, 2.5])  # ordinal thresholds on the darkness liability
_POP_SKIN = {"YRI": 3.0, "CEU": -0.5, "CHB": 0.8}
_POP_HAIR_DARK = {"YRI": 2.0, "CHB": 2.0}
# Height (cm): adult means by sex, population shifts, SNP heritability within groups.
_HEIGHT_MEAN = {"F": 163.0, "M": 176.0}
_POP_HEIGHT = {"YRI": 0.0, "CEU": 2.0, "CHB": -3.0}
_HEIGHT_SD, _HEIGHT_H2 = 7.0, 0.5


@dataclass
class TraitTruth:
    """Everything that generates the traits; saved as ``truth/traits.json``."""

    panel_ids: list[str]
    panel_genes: list[str]
    panel_effects: dict[str, list[float]]  # liability -> effect per panel SNP
    intercepts: dict[str, float]
    population_shifts: dict[str, dict[str, float]]
    skin_cuts: list[float]
    height_mean: dict[str, float]
    height_snps: list[str]
    height_effects: list[float]
    height_centre: list[float]
    height_residual_sd: float
    note: str = field(
        default=(
            "simulated: panel SNPs are coalescent stand-ins named with HIrisPlex-S rsIDs; "
            "effects are the simulator's own, not published coefficients"
        )
    )

    def save(self, directory: Path) -> None:
        write_json(Path(directory) / "traits.json", asdict(self))


def choose_panel(freqs: pd.DataFrame, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pick one candidate variant (column index) per panel SNP.

    ``freqs`` is (populations x variants) ALT frequency. With a European deme among others,
    take the SNPs whose ALT allele is most European-enriched (as light-pigment alleles are);
    MC1R red-hair alleles are rarer, so they come from the low-frequency end. With one
    population, take random common SNPs.
    """
    f = freqs.to_numpy()[:, candidates]
    k = len(PANEL)
    if "CEU" in freqs.index and len(freqs.index) > 1:
        ceu = f[list(freqs.index).index("CEU")]
        others = np.delete(f, list(freqs.index).index("CEU"), axis=0).max(axis=0)
        score = ceu - others
        is_red = np.array([g == "MC1R" for _, g, _ in PANEL])
        rare = (ceu > 0.03) & (ceu < 0.2)
        order_rare = np.argsort(-(score * rare))
        order = [i for i in np.argsort(-score) if i not in set(order_rare[: is_red.sum()])]
        chosen = np.empty(k, dtype=int)
        chosen[is_red] = order_rare[: is_red.sum()]
        chosen[~is_red] = order[: (~is_red).sum()]
        return candidates[chosen]
    common = candidates[(f.mean(axis=0) > 0.05) & (f.mean(axis=0) < 0.95)]
    return rng.choice(common, size=k, replace=False)


def build_trait_truth(
    panel_ids: list[str], height_snps: np.ndarray, height_dosage: np.ndarray, rng: np.random.Generator
) -> TraitTruth:
    """Draw height effects (scaled to the target SNP heritability) around the fixed panel model."""
    var = height_dosage.var(axis=0)
    raw = rng.standard_normal(len(height_snps))
    target = _HEIGHT_H2 * _HEIGHT_SD**2
    effects = raw * np.sqrt(target / max(float(np.sum(var * raw**2)), 1e-12))
    liabilities = ("eye_blue", "eye_int", "hair_blond", "hair_brown", "hair_red", "skin")
    return TraitTruth(
        panel_ids=list(panel_ids),
        panel_genes=[g for _, g, _ in PANEL],
        panel_effects={lab: [e.get(lab, 0.0) for _, _, e in PANEL] for lab in liabilities},
        intercepts=dict(_INTERCEPT),
        population_shifts={"skin": dict(_POP_SKIN), "hair_dark": dict(_POP_HAIR_DARK), "height": dict(_POP_HEIGHT)},
        skin_cuts=_SKIN_CUTS.tolist(),
        height_mean=dict(_HEIGHT_MEAN),
        height_snps=[str(s) for s in height_snps],
        height_effects=effects.tolist(),
        height_centre=height_dosage.mean(axis=0).tolist(),
        height_residual_sd=float(np.sqrt((1 - _HEIGHT_H2) * _HEIGHT_SD**2)),
    )


def _categorical(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one category per row of the probabilities ``p`` (n, C)."""
    u = rng.random((len(p), 1))
    return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)


def _softmax(scores: np.ndarray) -> np.ndarray:
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def trait_probabilities(truth: TraitTruth, panel_dosage: np.ndarray, population: np.ndarray) -> dict[str, np.ndarray]:
    """The exact probabilities (n, C) of each eye, hair and skin colour given the panel
    genotypes and population: the optimum any trait predictor can reach on a simulated cohort."""
    n = len(population)
    eff = {k: np.asarray(v) for k, v in truth.panel_effects.items()}
    lin = {k: truth.intercepts.get(k, 0.0) + panel_dosage @ eff[k] for k in eff}
    dark = np.array([truth.population_shifts["hair_dark"].get(p, 0.0) for p in population])
    eye = _softmax(np.column_stack([lin["eye_blue"] - dark, lin["eye_int"] - dark / 2, np.zeros(n)]))
    hair = _softmax(
        np.column_stack([lin["hair_blond"] - dark, lin["hair_brown"] - dark / 2, lin["hair_red"] - dark, np.zeros(n)])
    )
    # Skin: ordinal logit, P(category <= k) = logistic(cut_k - liability).
    liability = np.array([truth.population_shifts["skin"].get(p, 0.0) for p in population]) + lin["skin"]
    below = 1 / (1 + np.exp(-(np.asarray(truth.skin_cuts)[None, :] - liability[:, None])))
    skin = np.diff(np.column_stack([np.zeros(n), below, np.ones(n)]), axis=1)
    return {"eye_colour": eye, "hair_colour": hair, "skin_colour": skin}


def simulate_traits(
    truth: TraitTruth,
    panel_dosage: np.ndarray,
    height_dosage: np.ndarray,
    population: np.ndarray,
    sex: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Eye, hair, skin colour and height (cm) for each person (rows in input order)."""
    n = len(population)
    probs = trait_probabilities(truth, panel_dosage, population)
    eye = _categorical(probs["eye_colour"], rng)
    hair = _categorical(probs["hair_colour"], rng)
    skin = _categorical(probs["skin_colour"], rng)
    height = (
        np.array([truth.height_mean[s] for s in sex])
        + np.array([truth.population_shifts["height"].get(p, 0.0) for p in population])
        + (height_dosage - np.asarray(truth.height_centre)) @ np.asarray(truth.height_effects)
        + truth.height_residual_sd * rng.standard_normal(n)
    )
    return pd.DataFrame(
        {
            "eye_colour": np.asarray(EYE_COLOURS)[eye],
            "hair_colour": np.asarray(HAIR_COLOURS)[hair],
            "skin_colour": np.asarray(SKIN_COLOURS)[skin],
            "height_cm": np.round(height, 1),
        }
    )
