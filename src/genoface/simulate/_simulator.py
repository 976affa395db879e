"""Simulate a cohort: coalescent genomes, faces from a known genotype-to-face map, covariates
and traits, written in the cohort directory format with the truth the oracle needs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface import __version__
from genoface._fs import atomic_directory
from genoface.cohort import COHORT_FORMAT_VERSION, Cohort
from genoface.errors import GenofaceError
from genoface.shape import REGION_NAMES, ShapeModel, load_shape_model
from genoface.simulate._faces import (
    NOSE_MM_PER_DECADE,
    FaceTruth,
    _random_field,
    _unit,
    adiposity_field,
    nose_lengthening_field,
    sagging_field,
    size_field,
    smooth_region_weight,
)
from genoface.simulate._genomes import SimulatedGenomes, simulate_genomes
from genoface.simulate._presets import COMPONENTS, DEFAULT_PRESET, Preset, get_preset
from genoface.simulate._traits import build_trait_truth, choose_panel, simulate_traits, PANEL

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# Regional loci are spread over regions roughly as facial GWAS hits are (nose and mouth most).
_REGION_WEIGHTS = {"nose": 0.25, "eyes": 0.15, "mouth": 0.2, "chin": 0.15, "cheeks": 0.1, "forehead": 0.15}
# BMI (kg/m^2): intercept by sex and population, change per year of age, within-group SD and
# SNP heritability (about 0.25 for common SNPs).
_BMI_BASE, _BMI_SEX = 25.0, {"F": -0.5, "M": 0.5}
_BMI_POP = {"YRI": 1.0, "CEU": 0.5, "CHB": -2.0}
_BMI_AGE_SLOPE, _BMI_SD, _BMI_H2, _N_BMI_SNPS = 0.05, 4.0, 0.25, 200
_N_HEIGHT_SNPS = 500
_N_ANCESTRY_SNPS, _N_X_SNPS = 2000, 2000
_AGE_CENTRE, _AGE_CURVATURE = 45.0, 0.1
_CHUNK = 1000  # people per chunk when building faces


@dataclass
class SimulationResult:
    cohort: Cohort
    truth: FaceTruth
    variance: dict  # requested and realized variance fractions per component


def simulate(
    preset: str | Preset = DEFAULT_PRESET,
    *,
    n: int | None = None,
    seed: int = 0,
    shape_model: str | os.PathLike | ShapeModel | None = None,
    out: str | os.PathLike | None = None,
    genotype_format: str = "auto",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SimulationResult:
    """Simulate a cohort from a preset (see :data:`genoface.simulate.PRESETS`).

    Parameters
    ----------
    preset : a preset name or a :class:`Preset`; ``n`` overrides its size (populations keep
        their proportions).
    seed : the whole output is a deterministic function of (preset, n, seed, shape model).
    shape_model : a :class:`ShapeModel`, a path to the Surrey Face Model folder, or None for
        ``$GENOFACE_SHAPE_MODEL`` or else the built-in face.
    out : cohort directory to write (atomically); None keeps the cohort in memory only.
    genotype_format : "vcf", "bed", or "auto" (VCF up to 20 million genotype calls, else
        PLINK bed, which is far smaller and faster for large cohorts).
    """
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if n is not None and n != p.n:
        p = p.with_size(n)
    if genotype_format not in ("auto", "vcf", "bed"):
        raise GenofaceError(f"--genotype-format must be vcf, bed or auto, got {genotype_format!r}")
    if out is not None and Path(out).exists() and not overwrite:
        raise GenofaceError(f"{out} already exists; choose another --out or remove it first")
    shape = shape_model if isinstance(shape_model, ShapeModel) else load_shape_model(shape_model)
    progress = progress or (lambda stage, done, total: None)

    streams = np.random.SeedSequence(seed).spawn(6)
    rng_people, rng_effects, rng_bmi, rng_faces, rng_traits = (np.random.default_rng(s) for s in streams[:5])
    genome_seed = int(streams[5].generate_state(1)[0] % (2**31 - 1)) + 1

    pops = np.repeat(np.array(list(p.populations)), list(p.populations.values()))
    pop_idx = np.repeat(np.arange(len(p.populations)), list(p.populations.values()))
    n_people = len(pops)
    is_male = rng_people.random(n_people) < p.male_fraction
    sex = np.where(is_male, "M", "F")
    age = np.round(rng_people.uniform(*p.age_range, size=n_people), 2)

    genomes = simulate_genomes(p.populations, is_male, p.layout, seed=genome_seed, progress=progress)
    progress("faces", 0, n_people)
    freqs = population_frequencies(genomes.genotypes, pop_idx, is_male, genomes.variants["chrom"].to_numpy() == "X", list(p.populations))
    picks = _choose_snps(genomes, freqs, p, rng_effects)
    variants = genomes.variants.copy()
    variants.loc[picks["panel"], "id"] = [rsid for rsid, _, _ in PANEL]
    ids = variants["id"].to_numpy()

    truth = _build_face_truth(shape, p, genomes, freqs, picks, ids, is_male, age, rng_effects)
    bmi_dosage = genomes.genotypes[:, picks["bmi"]].astype(float)
    bmi = np.round(_draw_bmi(truth, pop_idx, is_male, age, bmi_dosage, rng_bmi), 2)
    faces, variance = _draw_faces(truth, shape, p, genomes.genotypes[:, picks["shape"]], pop_idx, is_male, age, bmi, rng_faces, progress)

    trait_truth = build_trait_truth(
        list(ids[picks["panel"]]), ids[picks["height"]], genomes.genotypes[:, picks["height"]].astype(float), rng_traits
    )
    traits = simulate_traits(
        trait_truth, genomes.genotypes[:, picks["panel"]].astype(float), genomes.genotypes[:, picks["height"]].astype(float), pops, sex, rng_traits
    )
    sample_ids = np.array([f"GF{i + 1:06d}" for i in range(n_people)])
    covariates = pd.DataFrame(
        {"sex": sex, "age": age, "bmi": bmi, "population": pops, **{c: traits[c].to_numpy() for c in traits}},
        index=pd.Index(sample_ids, name="sample_id"),
    )
    meta = {
        "format_version": COHORT_FORMAT_VERSION,
        "name": f"simulated-{p.name}",
        "n": n_people,
        "units": "mm",
        "genome_build": f"simulated (stdpopsim HomSap {p.layout.demographic_model}, flat recombination maps)",
        "simulated": True,
        "simulation": {
            "preset": p.name,
            "seed": seed,
            "n": n_people,
            "populations": p.populations,
            "layout": asdict(p.layout),
            "shape_model": shape.name,
            "shape_model_description": shape.description,
            "genoface_version": __version__,
        },
    }
    cohort = Cohort(
        sample_ids=sample_ids,
        genotypes=genomes.genotypes,
        variants=variants,
        faces=faces.astype(np.float32),
        template_vertices=shape.mean,
        template_triangles=shape.triangles,
        covariates=covariates,
        meta=meta,
    )
    variance["model"] = truth.summary()
    if out is not None:
        fmt = genotype_format
        if fmt == "auto":
            fmt = "vcf" if genomes.genotypes.size <= 20_000_000 else "bed"
        progress("writing", 0, 1)
        with atomic_directory(out, overwrite=overwrite) as tmp:
            cohort.write(tmp, genotype_format=fmt)
            truth_dir = tmp / "truth"
            truth_dir.mkdir()
            truth.save(truth_dir)
            trait_truth.save(truth_dir)
            (truth_dir / "variance.json").write_text(json.dumps(variance, indent=2) + "\n")
            (truth_dir / "README.txt").write_text(_TRUTH_README)
        cohort.path = Path(out)
        progress("writing", 1, 1)
    return SimulationResult(cohort=cohort, truth=truth, variance=variance)


_TRUTH_README = """\
Simulation truth (simulated cohort): what generated the faces and traits.
face_model.npz / face_model.json  every parameter of the genotype-to-face map; genoface's
                                  `oracle` model computes E[face | genome, covariates] from it
traits.json                       the trait model (pigmentation panel stand-ins, height)
variance.json                     requested and realized shares of facial shape variance
"""


def population_frequencies(
    genotypes: np.ndarray, pop_idx: np.ndarray, is_male: np.ndarray, is_x: np.ndarray, names: list[str], chunk: int = 4096
) -> pd.DataFrame:
    """ALT allele frequency per population (P x m); on X a male carries one allele copy."""
    copies = np.where(is_male, 1.0, 2.0)
    out = np.empty((len(names), genotypes.shape[1]))
    onehot = (pop_idx[None, :] == np.arange(len(names))[:, None]).astype(float)  # (P, n)
    for start in range(0, genotypes.shape[1], chunk):
        block = np.asarray(genotypes[:, start : start + chunk], dtype=np.float64)
        x_cols = is_x[start : start + chunk]
        seen = block >= 0
        alleles = np.where(seen, block, 0.0)
        alleles[:, x_cols] /= np.where(is_male, 2.0, 1.0)[:, None]  # male 0/2 -> 0/1 copies
        n_copies = seen * 2.0
        n_copies[:, x_cols] = seen[:, x_cols] * copies[:, None]
        out[:, start : start + chunk] = (onehot @ alleles) / np.maximum(onehot @ n_copies, 1.0)
    return pd.DataFrame(out, index=names)


def _choose_snps(genomes: SimulatedGenomes, freqs: pd.DataFrame, p: Preset, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint sets of variant columns: pigmentation panel, shape loci, BMI and height SNPs."""
    is_x = genomes.variants["chrom"].to_numpy() == "X"
    g = np.asarray(genomes.genotypes)
    pooled = np.nanmean(np.where(g >= 0, g, np.nan), axis=0) / 2  # only for the MAF screen
    maf = np.minimum(pooled, 1 - pooled)
    panel = choose_panel(freqs, np.flatnonzero(~is_x & (maf >= 0.02)), rng)
    pool = np.flatnonzero(~is_x & (maf >= p.architecture.min_maf))
    pool = np.setdiff1d(pool, panel)
    arch = p.architecture
    n_shape = arch.n_regional_loci + arch.n_background_snps
    n_bmi = min(_N_BMI_SNPS, max(0, (len(pool) - n_shape) // 4))
    n_height = min(_N_HEIGHT_SNPS, max(0, (len(pool) - n_shape - n_bmi) // 2))
    if len(pool) < n_shape + 20:
        raise GenofaceError(
            f"preset {p.name!r} needs {n_shape} causal SNPs with MAF >= {arch.min_maf}, but the simulated genome has "
            f"{len(pool)}; use longer contigs or more people"
        )
    drawn = rng.permutation(pool)
    shape = drawn[:n_shape]
    bmi = drawn[n_shape : n_shape + n_bmi]
    height = drawn[n_shape + n_bmi : n_shape + n_bmi + n_height]
    # Ancestry-informative SNPs: largest between-population variance of frequency.
    auto = np.flatnonzero(~is_x & (maf >= 0.01))
    spread = freqs.to_numpy()[:, auto].var(axis=0)
    ancestry = np.sort(auto[np.argsort(-spread)[:_N_ANCESTRY_SNPS]])
    x_cols = np.flatnonzero(is_x)
    if len(x_cols) > _N_X_SNPS:
        x_cols = np.sort(rng.choice(x_cols, _N_X_SNPS, replace=False))
    return {"panel": panel, "shape": shape, "bmi": bmi, "height": height, "ancestry": ancestry, "x": x_cols}


def _variance_shares(k: int, shape_param: float, rng: np.random.Generator) -> np.ndarray:
    v = rng.gamma(shape_param, size=k)
    return v / v.sum()


def _build_face_truth(
    shape: ShapeModel,
    p: Preset,
    genomes: SimulatedGenomes,
    freqs: pd.DataFrame,
    picks: dict[str, np.ndarray],
    ids: np.ndarray,
    is_male: np.ndarray,
    age: np.ndarray,
    rng: np.random.Generator,
) -> FaceTruth:
    """Draw every effect and scale each component to its requested share of shape variance."""
    total = shape.total_variance
    frac = p.variance_fractions()
    n_pop = len(p.populations)
    prior = np.array(list(p.populations.values()), dtype=float)
    prior /= prior.sum()
    dim = 3 * shape.n_vertices
    arch = p.architecture

    # Ancestry: one offset per population, centred on the cohort mean, between-population
    # variance = share * total.
    offsets = np.stack([_random_field(shape, rng) for _ in range(n_pop)])
    offsets -= prior @ offsets
    between = float(prior @ (offsets**2).sum(axis=1))
    offsets *= np.sqrt(frac["ancestry"] * total / between) if between > 0 and frac["ancestry"] > 0 else 0.0

    # Sex: half size (males larger), half a random shape direction; variance p(1-p)|d|^2.
    d_sex = _unit(size_field(shape) + _unit(_random_field(shape, rng)))
    pm = p.male_fraction
    d_sex *= np.sqrt(frac["sex"] * total / (pm * (1 - pm)))

    # Age: calibrated nose lengthening, soft-tissue sagging, and a random ageing direction
    # elsewhere (the nose is left to its calibrated change).
    truth_age = dict(age_centre=_AGE_CENTRE, age_curvature=_AGE_CURVATURE, age_range=np.array(p.age_range, dtype=float))
    grid = np.linspace(*p.age_range, 20001)
    t = (grid - _AGE_CENTRE) / 10.0
    var_g = float((t + _AGE_CURVATURE * t**2).var())
    nose = nose_lengthening_field(shape) * NOSE_MM_PER_DECADE
    keep_nose = 1.0 - smooth_region_weight(shape.mean, shape.region_mask("nose"))
    generic = _unit((_random_field(shape, rng).reshape(-1, 3) * keep_nose[:, None]).ravel())
    d_age = _scale_to_norm(nose, sagging_field(shape) + 0.5 * generic, frac["age"] * total / var_g)

    # BMI: outward fat on cheeks, chin and jaw; its variance is that of the BMI model.
    bmi_intercept = np.array(
        [[_BMI_BASE + _BMI_POP.get(pop, 0.0) + _BMI_SEX[s] for s in ("F", "M")] for pop in p.populations]
    )
    cell_w = np.outer(prior, [1 - pm, pm])
    var_between = float((cell_w * bmi_intercept**2).sum() - (cell_w * bmi_intercept).sum() ** 2)
    var_age = (p.age_range[1] - p.age_range[0]) ** 2 / 12.0
    var_bmi = var_between + _BMI_AGE_SLOPE**2 * var_age + _BMI_SD**2
    d_bmi = adiposity_field(shape) * np.sqrt(frac["bmi"] * total / var_bmi)
    bmi_ref = float((cell_w * bmi_intercept).sum())

    bmi_cols = picks["bmi"]
    bmi_x = genomes.genotypes[:, bmi_cols].astype(float)
    raw = rng.standard_normal(len(bmi_cols))
    bmi_var = bmi_x.var(axis=0)
    bmi_effects = raw * np.sqrt(_BMI_H2 * _BMI_SD**2 / max(float(np.sum(bmi_var * raw**2)), 1e-12)) if len(bmi_cols) else raw

    # Genetic shape effects, scaled with each SNP's dosage variance in this cohort (GCTA-style).
    shape_cols = picks["shape"]
    shape_x = genomes.genotypes[:, shape_cols].astype(float)
    var_x = shape_x.var(axis=0)
    mr = arch.n_regional_loci
    gen_total = frac["genetic"] * total
    regions = rng.choice(list(_REGION_WEIGHTS), size=mr, p=np.array(list(_REGION_WEIGHTS.values())))
    weights = {r: smooth_region_weight(shape.mean, shape.region_mask(r)) for r in REGION_NAMES}
    share_r = _variance_shares(mr, arch.effect_shape, rng) * arch.regional_share * gen_total
    regional = np.empty((mr, dim))
    for j in range(mr):
        field = (_random_field(shape, rng).reshape(-1, 3) * weights[regions[j]][:, None]).ravel()
        regional[j] = _unit(field) * np.sqrt(share_r[j] / var_x[j])
    m_bg = arch.n_background_snps
    background = np.zeros((m_bg, shape.n_components))
    if m_bg:
        share_b = _variance_shares(m_bg, 1.0, rng) * (1 - arch.regional_share) * gen_total
        z = rng.standard_normal((m_bg, shape.n_components))
        norms2 = (z**2 * shape.eigenvalues[None, :]).sum(axis=1)
        background = z * np.sqrt(share_b / (var_x[mr:] * norms2))[:, None]

    pop_names = list(p.populations)
    truth = FaceTruth(
        mean=shape.mean.ravel().copy(),
        scaled_basis=shape.scaled_basis,
        populations=np.array(pop_names),
        population_prior=prior,
        population_offsets=offsets,
        male_fraction=pm,
        sex_direction=d_sex,
        age_direction=d_age,
        **truth_age,
        bmi_direction=d_bmi,
        bmi_reference=bmi_ref,
        bmi_intercept=bmi_intercept,
        bmi_age_slope=_BMI_AGE_SLOPE,
        bmi_residual_sd=float(np.sqrt((1 - _BMI_H2) * _BMI_SD**2)),
        bmi_snps=ids[bmi_cols],
        bmi_effects=bmi_effects,
        bmi_centre=bmi_x.mean(axis=0),
        bmi_freqs=freqs.to_numpy()[:, bmi_cols],
        shape_snps=ids[shape_cols],
        shape_centre=shape_x.mean(axis=0),
        shape_freqs=freqs.to_numpy()[:, shape_cols],
        regional_effects=regional,
        regional_region=regions.astype(str),
        background_effects=background,
        residual_scale=float(np.sqrt(frac["residual"])),
        ancestry_snps=ids[picks["ancestry"]],
        ancestry_freqs=freqs.to_numpy()[:, picks["ancestry"]],
        x_snps=ids[picks["x"]],
        x_freqs=freqs.to_numpy()[:, picks["x"]],
    )
    # Per-SNP scaling ignores LD and the covariance that population structure induces between
    # causal SNPs; rescale so the genetic share holds in this cohort, as GCTA's --simu-qt does.
    realized = _component_variance(truth.genetic_value, shape_x)
    if realized > 0:
        factor = np.sqrt(gen_total / realized)
        truth.regional_effects *= factor
        truth.background_effects *= factor
    return truth


def _component_variance(fn, x: np.ndarray) -> float:
    """Total variance (trace of the covariance) of ``fn(x)`` over the rows of x, in chunks."""
    total, sq, n = 0.0, 0.0, x.shape[0]
    acc = None
    for start in range(0, n, _CHUNK):
        part = fn(x[start : start + _CHUNK])
        acc = part.sum(axis=0) if acc is None else acc + part.sum(axis=0)
        sq += float((part**2).sum())
    return sq / n - float(acc @ acc) / n**2


def _scale_to_norm(fixed: np.ndarray, free: np.ndarray, target_sq: float) -> np.ndarray:
    """fixed + s * free with |.|^2 = target_sq, s >= 0 (fixed is shrunk if it alone exceeds it)."""
    a, b, c = free @ free, 2 * fixed @ free, fixed @ fixed - target_sq
    if c >= 0:
        log.warning("the calibrated ageing of the nose alone exceeds the age share of variance; shrinking it")
        return fixed * np.sqrt(target_sq / (fixed @ fixed))
    s = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    return fixed + s * free


def _draw_bmi(truth: FaceTruth, pop_idx, is_male, age, bmi_dosage, rng) -> np.ndarray:
    return (
        truth.bmi_intercept[pop_idx, is_male.astype(int)]
        + truth.bmi_age_slope * (age - truth.age_centre)
        + truth.bmi_genetic_value(bmi_dosage)
        + truth.bmi_residual_sd * rng.standard_normal(len(age))
    )


def _draw_faces(
    truth: FaceTruth, shape: ShapeModel, p: Preset, shape_dosage, pop_idx, is_male, age, bmi, rng, progress: Progress
) -> tuple[np.ndarray, dict]:
    """Faces (n, V, 3) in chunks, with the realized variance of each component."""
    n, dim = len(age), truth.mean.shape[0]
    faces = np.empty((n, shape.n_vertices, 3), dtype=np.float32)
    names = (*COMPONENTS, "total")
    sums = {c: np.zeros(dim) for c in names}
    sumsq = dict.fromkeys(names, 0.0)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        parts = {
            "ancestry": truth.population_offsets[pop_idx[sl]],
            "sex": truth.sex_sign(is_male[sl])[:, None] * truth.sex_direction[None, :],
            "age": truth.age_function(age[sl])[:, None] * truth.age_direction[None, :],
            "bmi": (bmi[sl] - truth.bmi_reference)[:, None] * truth.bmi_direction[None, :],
            "genetic": truth.genetic_value(np.asarray(shape_dosage[sl], dtype=float)),
            "residual": truth.residual_scale * rng.standard_normal((sl.stop - sl.start, shape.n_components)) @ truth.scaled_basis.T,
        }
        parts["total"] = sum(parts[c] for c in COMPONENTS)
        for c, x in parts.items():
            sums[c] += x.sum(axis=0)
            sumsq[c] += float((x**2).sum())
        faces[sl] = (truth.mean[None, :] + parts["total"]).reshape(-1, shape.n_vertices, 3)
        progress("faces", sl.stop, n)
    total = shape.total_variance
    realized = {c: (sumsq[c] / n - float(sums[c] @ sums[c]) / n**2) / total for c in names}
    return faces, {
        "total_variance_mm2": total,
        "requested": p.variance_fractions(),
        "realized": realized,
        "note": "shares of the shape model's total variance (trace of the vertex covariance), simulated",
    }
