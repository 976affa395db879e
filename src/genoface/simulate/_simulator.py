"""Simulate a cohort: coalescent genomes, faces from a known genotype-to-face map, covariates
and traits, written in the cohort directory format with the truth the oracle needs."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface import __version__
from genoface.cohort import COHORT_FORMAT_VERSION, Cohort
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, write_json
from genoface.shape import ShapeModel, load_shape_model
from genoface.simulate._effects import build_face_truth
from genoface.simulate._faces import FaceTruth
from genoface.simulate._genomes import SimulatedGenomes, simulate_genomes
from genoface.simulate._presets import COMPONENTS, DEFAULT_PRESET, Preset, get_preset
from genoface.simulate._traits import PANEL, build_trait_truth, choose_panel, simulate_traits

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

_N_BMI_SNPS = 200
_N_HEIGHT_SNPS = 500
_N_ANCESTRY_SNPS, _N_X_SNPS = 2000, 2000
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
    freqs, pooled = population_frequencies(
        genomes.genotypes, pop_idx, is_male, genomes.variants["chrom"].to_numpy() == "X", list(p.populations)
    )
    picks = _choose_snps(genomes, freqs, pooled, p, rng_effects)
    variants = genomes.variants.copy()
    variants.loc[picks["panel"], "id"] = [rsid for rsid, _, _ in PANEL]
    ids = variants["id"].to_numpy()

    truth = build_face_truth(shape, p, genomes, freqs, picks, ids, rng_effects)
    bmi_dosage = genomes.genotypes[:, picks["bmi"]].astype(float)
    bmi = np.round(_draw_bmi(truth, pop_idx, is_male, age, bmi_dosage, rng_bmi), 2)
    faces, variance = _draw_faces(
        truth, shape, p, genomes.genotypes[:, picks["shape"]], pop_idx, is_male, age, bmi, rng_faces, progress
    )

    height_dosage = genomes.genotypes[:, picks["height"]].astype(float)
    trait_truth = build_trait_truth(list(ids[picks["panel"]]), ids[picks["height"]], height_dosage, rng_traits)
    panel_dosage = genomes.genotypes[:, picks["panel"]].astype(float)
    traits = simulate_traits(trait_truth, panel_dosage, height_dosage, pops, sex, rng_traits)
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
        "template_landmarks": {k: int(v) for k, v in shape.landmarks.items()},
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
        faces=faces,
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
            write_json(truth_dir / "variance.json", variance)
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
    genotypes: np.ndarray,
    pop_idx: np.ndarray,
    is_male: np.ndarray,
    is_x: np.ndarray,
    names: list[str],
    chunk: int = 1024,
) -> tuple[pd.DataFrame, np.ndarray]:
    """ALT allele frequency per population (P x m) and pooled over everyone (m,).

    On X a man carries one allele copy. Works through the variants in chunks so that only
    one chunk is ever held as floating point (DESIGN.md, Scale).
    """
    copies = np.where(is_male, 1.0, 2.0)
    alleles = np.empty((len(names), genotypes.shape[1]))
    n_copies = np.empty_like(alleles)
    onehot = (pop_idx[None, :] == np.arange(len(names))[:, None]).astype(float)  # (P, n)
    for start in range(0, genotypes.shape[1], chunk):
        cols = slice(start, start + chunk)
        block = np.asarray(genotypes[:, cols], dtype=np.float64)
        x_cols = is_x[cols]
        seen = block >= 0
        block[~seen] = 0.0
        block[:, x_cols] /= np.where(is_male, 2.0, 1.0)[:, None]  # male 0/2 -> 0/1 copies
        have = seen * 2.0
        have[:, x_cols] = seen[:, x_cols] * copies[:, None]
        alleles[:, cols] = onehot @ block
        n_copies[:, cols] = onehot @ have
    freqs = pd.DataFrame(alleles / np.maximum(n_copies, 1.0), index=names)
    return freqs, alleles.sum(axis=0) / np.maximum(n_copies.sum(axis=0), 1.0)


def _choose_snps(
    genomes: SimulatedGenomes, freqs: pd.DataFrame, pooled: np.ndarray, p: Preset, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Disjoint sets of variant columns: pigmentation panel, shape loci, BMI and height SNPs."""
    is_x = genomes.variants["chrom"].to_numpy() == "X"
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
            "residual": truth.draw_residual(sl.stop - sl.start, rng),
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
