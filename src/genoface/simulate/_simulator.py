"""Simulate a cohort: coalescent genomes, faces from a known genotype-to-face map, covariates
and traits, written in the cohort directory format with the truth the oracle needs."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genoface import __version__
from genoface.cohort import COHORT_FORMAT_VERSION, FACE_ARRAY, FACE_FORMATS, IN_MEMORY_GENOTYPES, Cohort
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, write_json
from genoface.io.meshes import FaceArrayWriter
from genoface.shape import ShapeModel, load_shape_model
from genoface.simulate._effects import build_face_truth, locus_component_shares
from genoface.simulate._faces import FaceTruth
from genoface.simulate._genomes import SimulatedGenomes, simulate_genomes
from genoface.simulate._presets import COMPONENTS, DEFAULT_PRESET, Preset, get_preset
from genoface.simulate._traits import PANEL, TraitTruth, build_trait_truth, choose_panel, simulate_traits

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

_N_BMI_SNPS = 200
_N_HEIGHT_SNPS = 500
_N_ANCESTRY_SNPS, _N_X_SNPS = 2000, 2000
_CHUNK = 1000  # people per chunk when building faces
_FREQ_BLOCK = 1 << 22  # genotype calls per block when counting alleles (32 MB as float64)
_SCRATCH_STORE = ".genotypes.zarr"  # a lazy simulation's genotypes until the bed or VCF is written


@dataclass
class SimulationResult:
    cohort: Cohort
    truth: FaceTruth
    variance: dict  # requested and realized variance fractions per component


@dataclass
class _RandomStreams:
    """Independent random streams, one per stage, so that a stage's draws do not shift another's."""

    people: np.random.Generator
    effects: np.random.Generator
    bmi: np.random.Generator
    faces: np.random.Generator
    traits: np.random.Generator
    genome_seed: int  # msprime seed of the genomes

    @classmethod
    def from_seed(cls, seed: int) -> _RandomStreams:
        streams = np.random.SeedSequence(seed).spawn(6)
        people, effects, bmi, faces, traits = (np.random.default_rng(s) for s in streams[:5])
        genome_seed = int(streams[5].generate_state(1)[0] % (2**31 - 1)) + 1
        return cls(people, effects, bmi, faces, traits, genome_seed)


@dataclass
class _People:
    """Who is in the cohort, ordered by population as the preset lists them."""

    pops: np.ndarray  # (n,) population name
    pop_idx: np.ndarray  # (n,) index of the population in the preset
    is_male: np.ndarray  # (n,) bool
    sex: np.ndarray  # (n,) "M" / "F"
    age: np.ndarray  # (n,) years, rounded to 2 decimals

    @property
    def n(self) -> int:
        return len(self.pops)


def simulate(
    preset: str | Preset = DEFAULT_PRESET,
    *,
    n: int | None = None,
    seed: int = 0,
    shape_model: str | os.PathLike | ShapeModel | None = None,
    out: str | os.PathLike | None = None,
    genotype_format: str = "auto",
    faces_format: str = "ply",
    lazy: bool | None = None,
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
    faces_format : "ply" (``faces/<sample_id>.ply``) or "npy" (one ``faces.npy``, n x V x 3,
        drawn straight into the file a chunk of people at a time, never held in memory).
    lazy : with ``out``, decode the genotypes into a scratch store inside it rather than into
        memory (True), or not (False); None does so above ``IN_MEMORY_GENOTYPES`` bytes. The
        bed or VCF is then written from the store a block at a time, and the cohort returned is
        the written one, loaded lazily (which builds its cache). The values do not depend on it.
    """
    p = _sized_preset(preset, n)
    _check_output(genotype_format, faces_format, out, overwrite, lazy)
    shape = shape_model if isinstance(shape_model, ShapeModel) else load_shape_model(shape_model)
    progress = progress or (lambda stage, done, total: None)
    rngs = _RandomStreams.from_seed(seed)
    people = _draw_people(p, rngs.people)
    with _staging(out, overwrite) as tmp:
        scratch = None if tmp is None or lazy is False else tmp / _SCRATCH_STORE
        genomes = simulate_genomes(
            p.populations,
            people.is_male,
            p.layout,
            seed=rngs.genome_seed,
            progress=progress,
            store=scratch,
            store_above=0 if lazy else IN_MEMORY_GENOTYPES,
        )
        result, trait_truth = _simulate_people(p, seed, shape, people, genomes, rngs, tmp, faces_format, progress)
        if tmp is not None:
            fmt = _resolve_genotype_format(genotype_format, people.n * len(genomes.variants))
            _write_cohort(result, trait_truth, tmp, fmt, faces_format, progress)
            if scratch is not None and scratch.exists():
                shutil.rmtree(scratch)
    if out is not None:
        lazy_genotypes = not isinstance(result.cohort.genotypes, np.ndarray)
        result.cohort = Cohort.load(out, lazy=True) if lazy_genotypes else result.cohort
        result.cohort.path = Path(out)
    return result


@contextlib.contextmanager
def _staging(out: str | os.PathLike | None, overwrite: bool) -> Iterator[Path | None]:
    """The directory the cohort is written in, renamed to ``out`` when complete (None: no ``out``)."""
    if out is None:
        yield None
        return
    with atomic_directory(out, overwrite=overwrite) as tmp:
        yield tmp


def _simulate_people(
    p: Preset,
    seed: int,
    shape: ShapeModel,
    people: _People,
    genomes: SimulatedGenomes,
    rngs: _RandomStreams,
    tmp: Path | None,
    faces_format: str,
    progress: Progress,
) -> tuple[SimulationResult, TraitTruth]:
    """Effects, BMI, faces and traits of the people with these genomes; the faces go straight
    into ``tmp/faces.npy`` with ``faces_format`` "npy"."""
    progress("faces", 0, people.n)
    freqs, picks, variants = _pick_causal_snps(genomes, people, p, rngs.effects)
    ids = variants["id"].to_numpy()
    dosages = _causal_dosages(genomes.genotypes, picks)
    truth = build_face_truth(shape, p, dosages, freqs, picks, ids, rngs.effects)
    bmi_dosage = dosages["bmi"].astype(float)
    bmi = np.round(_draw_bmi(truth, people.pop_idx, people.is_male, people.age, bmi_dosage, rngs.bmi), 2)
    args = (truth, shape, p, dosages["shape"], people.pop_idx, people.is_male, people.age, bmi, rngs.faces, progress)
    if faces_format == "npy" and tmp is not None:
        with FaceArrayWriter(tmp / FACE_ARRAY, people.n, shape.n_vertices) as writer:
            variance, components = _draw_faces(*args, keep=lambda sl, faces: writer.write(faces))
        faces = np.load(tmp / FACE_ARRAY, mmap_mode="r")
    else:
        faces = np.empty((people.n, shape.n_vertices, 3), dtype=np.float32)
        variance, components = _draw_faces(*args, keep=faces.__setitem__)
    trait_truth, traits = _simulate_traits(dosages, ids, picks, people, rngs.traits)
    sample_ids = np.array([f"GF{i + 1:06d}" for i in range(people.n)])
    cohort = Cohort(
        sample_ids=sample_ids,
        genotypes=genomes.genotypes,
        variants=variants,
        faces=faces,
        template_vertices=shape.mean,
        template_triangles=shape.triangles,
        covariates=_covariates(sample_ids, people, bmi, traits),
        meta=_cohort_meta(p, seed, people.n, shape),
    )
    variance["model"] = truth.summary()
    variance["architecture"] = _architecture_record(truth, shape, p, components)
    return SimulationResult(cohort=cohort, truth=truth, variance=variance), trait_truth


def _causal_dosages(genotypes: Any, picks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The int8 dosages (n, m) of each set of chosen SNPs that the faces and traits use, read in
    one pass over the columns they need (a store is read once, not once a set)."""
    keys = ("shape", "bmi", "height", "panel")
    cols = np.unique(np.concatenate([picks[k] for k in keys]))
    held = np.asarray(genotypes[:, cols], dtype=np.int8)
    return {k: held[:, np.searchsorted(cols, picks[k])] for k in keys}


def _sized_preset(preset: str | Preset, n: int | None) -> Preset:
    """The preset, resized to ``n`` people where that differs from its own size."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if n is not None and n != p.n:
        p = p.with_size(n)
    return p


def _check_output(
    genotype_format: str, faces_format: str, out: str | os.PathLike | None, overwrite: bool, lazy: bool | None
) -> None:
    """Refuse a bad format or an existing ``out`` before minutes of simulation, not after."""
    if genotype_format not in ("auto", "vcf", "bed"):
        raise GenofaceError(f"--genotype-format must be vcf, bed or auto, got {genotype_format!r}")
    if faces_format not in FACE_FORMATS:
        raise GenofaceError(f"--faces-format must be {' or '.join(FACE_FORMATS)}, got {faces_format!r}")
    if out is None and (lazy or faces_format != "ply"):
        raise GenofaceError("a lazy simulation, or faces as faces.npy, is written as it goes: give --out")
    if out is not None and Path(out).exists() and not overwrite:
        raise GenofaceError(f"{out} already exists; choose another --out or remove it first")


def _draw_people(p: Preset, rng: np.random.Generator) -> _People:
    """Population, sex and age of each person."""
    counts = list(p.populations.values())
    pops = np.repeat(np.array(list(p.populations)), counts)
    pop_idx = np.repeat(np.arange(len(p.populations)), counts)
    is_male = rng.random(len(pops)) < p.male_fraction
    age = np.round(rng.uniform(*p.age_range, size=len(pops)), 2)
    return _People(pops=pops, pop_idx=pop_idx, is_male=is_male, sex=np.where(is_male, "M", "F"), age=age)


def _pick_causal_snps(
    genomes: SimulatedGenomes, people: _People, p: Preset, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Population frequencies, the chosen SNP columns (:func:`_choose_snps`), and the variant
    table with the pigmentation panel's columns renamed to the panel's rsIDs."""
    is_x = genomes.variants["chrom"].to_numpy() == "X"
    freqs, pooled = population_frequencies(genomes.genotypes, people.pop_idx, people.is_male, is_x, list(p.populations))
    picks = _choose_snps(genomes, freqs, pooled, p, rng)
    variants = genomes.variants.copy()
    variants.loc[picks["panel"], "id"] = [rsid for rsid, _, _ in PANEL]
    return freqs, picks, variants


def _simulate_traits(
    dosages: dict[str, np.ndarray], ids: np.ndarray, picks: dict[str, np.ndarray], people: _People, rng
) -> tuple[TraitTruth, pd.DataFrame]:
    """The trait model (pigmentation panel, height) and each person's traits."""
    height_dosage = dosages["height"].astype(float)
    trait_truth = build_trait_truth(list(ids[picks["panel"]]), ids[picks["height"]], height_dosage, rng)
    panel_dosage = dosages["panel"].astype(float)
    traits = simulate_traits(trait_truth, panel_dosage, height_dosage, people.pops, people.sex, rng)
    return trait_truth, traits


def _covariates(sample_ids: np.ndarray, people: _People, bmi: np.ndarray, traits: pd.DataFrame) -> pd.DataFrame:
    """Sex, age, BMI, population and traits per person; the traits go in as arrays (as Series they
    would align on their own 0..n-1 index, not on the sample ids)."""
    return pd.DataFrame(
        {
            "sex": people.sex,
            "age": people.age,
            "bmi": bmi,
            "population": people.pops,
            **{c: traits[c].to_numpy() for c in traits},
        },
        index=pd.Index(sample_ids, name="sample_id"),
    )


def _cohort_meta(p: Preset, seed: int, n_people: int, shape: ShapeModel) -> dict:
    """``cohort.json``: the cohort's description, and how to simulate it again."""
    return {
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


def _architecture_record(truth: FaceTruth, shape: ShapeModel, p: Preset, components: dict[str, np.ndarray]) -> dict:
    """How the genetic variance came out, per shape component of the shape model: the number
    of causal SNPs, the SNP heritability (genetic variance over the faces' variance along the
    component) and the largest share of a component that one causal SNP explains alone.
    ``components``: the variances :func:`_draw_faces` measured (faces and genetic part along
    each component, each causal SNP's dosage)."""
    total = components["total"]
    shares = locus_component_shares(truth, shape.basis, components["dosage"], total)
    return {
        "n_regional_loci": int(truth.regional_effects.shape[0]),
        "n_background_snps": int(truth.background_effects.shape[0]),
        "max_locus_share_allowed": p.architecture.max_locus_share,
        "max_locus_share": float(shares.max()) if shares.size else 0.0,
        "snp_heritability_per_component": (components["genetic"] / total).tolist(),
        "note": "per component of the shape model's basis; realized in this cohort (simulated)",
    }


def _resolve_genotype_format(genotype_format: str, n_calls: int) -> str:
    """ "auto" is VCF up to 20 million genotype calls, else PLINK bed (far smaller and faster)."""
    if genotype_format != "auto":
        return genotype_format
    return "vcf" if n_calls <= 20_000_000 else "bed"


def _write_cohort(
    result: SimulationResult, trait_truth: TraitTruth, tmp: Path, genotype_format: str, faces_format: str, progress
) -> None:
    """Write the cohort and its ``truth/`` directory into the staging directory ``tmp``."""
    progress("writing", 0, 1)
    faces_written = faces_format == "npy"  # drawn straight into faces.npy
    result.cohort.write(
        tmp, genotype_format=genotype_format, faces_format=faces_format, faces_written=faces_written, progress=progress
    )
    truth_dir = tmp / "truth"
    truth_dir.mkdir()
    result.truth.save(truth_dir)
    trait_truth.save(truth_dir)
    write_json(truth_dir / "variance.json", result.variance)
    (truth_dir / "README.txt").write_text(_TRUTH_README)
    progress("writing", 1, 1)


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
    chunk: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """ALT allele frequency per population (P x m) and pooled over everyone (m,).

    On X a man carries one allele copy. Works through the variants in chunks (of about
    ``_FREQ_BLOCK`` calls unless ``chunk`` columns are given) so that only one chunk is ever
    held as floating point, whatever the number of people.
    """
    chunk = chunk or max(16, _FREQ_BLOCK // len(is_male))
    # a store is read a whole chunk of variants at a time (a narrower read would decompress
    # the same chunk again for each slice of it), then counted ``chunk`` columns at a time
    step = max(getattr(genotypes, "chunks", (0, 0))[1], chunk)
    alleles = np.empty((len(names), genotypes.shape[1]))
    n_copies = np.empty_like(alleles)
    onehot = (pop_idx[None, :] == np.arange(len(names))[:, None]).astype(float)  # (P, n)
    for start in range(0, genotypes.shape[1], step):
        held = np.asarray(genotypes[:, start : start + step])
        for sub in range(0, held.shape[1], chunk):
            part = held[:, sub : sub + chunk]
            cols = slice(start + sub, start + sub + part.shape[1])
            alleles[:, cols], n_copies[:, cols] = _allele_counts(part, is_x[cols], is_male, onehot)
    freqs = pd.DataFrame(alleles / np.maximum(n_copies, 1.0), index=names)
    return freqs, alleles.sum(axis=0) / np.maximum(n_copies.sum(axis=0), 1.0)


def _allele_counts(
    dosages: np.ndarray, x_cols: np.ndarray, is_male: np.ndarray, onehot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ALT copies and called copies per population (P, k) of a block of columns; on X a man
    (dosage 0/2) carries one copy."""
    block = np.asarray(dosages, dtype=np.float64)
    seen = block >= 0
    block[~seen] = 0.0
    block[:, x_cols] /= np.where(is_male, 2.0, 1.0)[:, None]  # male 0/2 -> 0/1 copies
    have = seen * 2.0
    have[:, x_cols] = seen[:, x_cols] * np.where(is_male, 1.0, 2.0)[:, None]
    return onehot @ block, onehot @ have


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
    truth: FaceTruth,
    shape: ShapeModel,
    p: Preset,
    shape_dosage,
    pop_idx,
    is_male,
    age,
    bmi,
    rng,
    progress: Progress,
    *,
    keep: Callable[[slice, np.ndarray], None],
) -> tuple[dict, dict]:
    """Faces (n, V, 3) a chunk of people at a time, each handed to ``keep(rows, faces)``, with
    the realized variance of each component, and (in the same pass) the variance of the faces
    and of their genetic part along each shape component and of each causal SNP's dosage (what
    :func:`_architecture_record` reports)."""
    n, dim = len(age), truth.mean.shape[0]
    names = (*COMPONENTS, "total")
    sums = {c: np.zeros(dim) for c in names}
    sumsq = dict.fromkeys(names, 0.0)
    moments = {k: [0.0, 0.0] for k in ("genetic", "total", "dosage")}  # per key: sum, sum of squares
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        dosage = np.asarray(shape_dosage[sl], dtype=float)
        parts = {
            "ancestry": truth.population_offsets[pop_idx[sl]],
            "sex": truth.sex_sign(is_male[sl])[:, None] * truth.sex_direction[None, :],
            "age": truth.age_function(age[sl])[:, None] * truth.age_direction[None, :],
            "bmi": (bmi[sl] - truth.bmi_reference)[:, None] * truth.bmi_direction[None, :],
            "genetic": truth.genetic_value(dosage),
            "residual": truth.draw_residual(sl.stop - sl.start, rng),
        }
        parts["total"] = sum(parts[c] for c in COMPONENTS)
        for c, x in parts.items():
            sums[c] += x.sum(axis=0)
            sumsq[c] += float((x**2).sum())
        for key, x in (
            ("genetic", parts["genetic"] @ shape.basis),
            ("total", parts["total"] @ shape.basis),
            ("dosage", dosage),
        ):
            moments[key][0] += x.sum(axis=0)
            moments[key][1] += (x**2).sum(axis=0)
        keep(sl, (truth.mean[None, :] + parts["total"]).reshape(-1, shape.n_vertices, 3).astype(np.float32))
        progress("faces", sl.stop, n)
    total = shape.total_variance
    realized = {c: (sumsq[c] / n - float(sums[c] @ sums[c]) / n**2) / total for c in names}
    variance = {
        "total_variance_mm2": total,
        "requested": p.variance_fractions(),
        "realized": realized,
        "note": "shares of the shape model's total variance (trace of the vertex covariance), simulated",
    }
    components = {key: sq / n - (s / n) ** 2 for key, (s, sq) in moments.items()}
    return variance, components
