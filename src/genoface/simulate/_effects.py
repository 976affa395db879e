"""Drawing the simulated genotype-to-face map: effect fields on the template, scaled so that
each source of variation takes its preset's share of total shape variance."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import trimesh
from scipy.spatial import cKDTree

from genoface.core.errors import GenofaceError
from genoface.shape import REGION_NAMES, ShapeModel
from genoface.simulate._faces import FaceTruth
from genoface.simulate._presets import GeneticArchitecture, Preset

log = logging.getLogger(__name__)

# How far (mm) a localized effect bleeds past its region's edge.
_REGION_FALLOFF_MM = 6.0
# Nose lengthening with age: about 1.3 mm per decade in adults (see _presets).
NOSE_MM_PER_DECADE = 1.3
# Regional loci are spread over regions roughly as facial GWAS hits are (nose and mouth most).
_REGION_WEIGHTS = {"nose": 0.25, "eyes": 0.15, "mouth": 0.2, "chin": 0.15, "cheeks": 0.1, "forehead": 0.15}
# BMI (kg/m^2): intercept by sex and population, change per year of age, within-group SD and
# SNP heritability (about 0.25 for common SNPs).
_BMI_BASE, _BMI_SEX = 25.0, {"F": -0.5, "M": 0.5}
_BMI_POP = {"YRI": 1.0, "CEU": 0.5, "CHB": -2.0}
_BMI_AGE_SLOPE, _BMI_SD, _BMI_H2 = 0.05, 4.0, 0.25
_AGE_CENTRE, _AGE_CURVATURE = 45.0, 0.1
_CHUNK = 1000  # people per chunk when measuring a component's variance
# Non-genetic individual variation beyond the shape model's span (see build_face_truth): apparent
# age varies about chronological age (SD ~5 years in perceived-age studies), facial fat about
# what BMI predicts, overall size about what sex predicts; the rest of the residual is split
# between local variation of each region and global shape-space variation.
_SIZE_SD = 0.01  # relative scale
_MAX_FIXED_SHARE = 0.8  # of the residual budget, at most, along the fixed directions
_RESIDUAL_REGIONAL_SHARE = 0.4
# Capping single-locus shares: at most this many shrink-and-rescale rounds, each shrinking a
# locus to this fraction of the cap so that the rescale that follows leaves it below.
_CAP_ITERATIONS, _CAP_MARGIN = 30, 0.9


def smooth_region_weight(vertices: np.ndarray, mask: np.ndarray, falloff_mm: float = _REGION_FALLOFF_MM) -> np.ndarray:
    """1 inside the region, a Gaussian fall-off with distance outside it (V,)."""
    if not mask.any():
        return np.zeros(len(vertices))
    d, _ = cKDTree(vertices[mask]).query(vertices)
    return np.exp(-0.5 * (d / falloff_mm) ** 2)


def unit_vector(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def random_shape_field(shape: ShapeModel, rng: np.random.Generator) -> np.ndarray:
    """A random displacement (3V,) distributed like shape-space variation."""
    return shape.scaled_basis @ rng.standard_normal(shape.n_components)


def nose_lengthening_field(shape: ShapeModel) -> np.ndarray:
    """(3V,) displacement lengthening the nose (nasion to subnasale) by exactly 1 mm.

    Nose vertices move down and slightly forward in proportion to their height below the
    nasion, so the nasion stays put and the tip and columella descend, as in adult ageing.
    """
    v = shape.mean
    lm = shape.landmarks
    n_y, sn_y = v[lm["nasion"], 1], v[lm["subnasale"], 1]
    weight = smooth_region_weight(v, shape.region_mask("nose"))
    u = np.clip((n_y - v[:, 1]) / (n_y - sn_y), 0.0, 1.2) * weight
    field = (u[:, None] * np.array([0.0, -1.0, 0.25])[None, :]).ravel()
    return field / _landmark_distance_change(shape, field, "nasion", "subnasale")


def _landmark_distance_change(shape: ShapeModel, field: np.ndarray, a: str, b: str) -> float:
    v = shape.mean
    moved = v + field.reshape(-1, 3)
    ia, ib = shape.landmarks[a], shape.landmarks[b]
    return float(np.linalg.norm(moved[ia] - moved[ib]) - np.linalg.norm(v[ia] - v[ib]))


def adiposity_field(shape: ShapeModel) -> np.ndarray:
    """(3V,) unit-norm outward displacement of the cheeks, chin and jaw (facial fat)."""
    mesh = trimesh.Trimesh(shape.mean, shape.triangles, process=False)
    normals = np.asarray(mesh.vertex_normals)
    mask = shape.region_mask("cheeks") | shape.region_mask("chin")
    weight = smooth_region_weight(shape.mean, mask, falloff_mm=12.0)
    return unit_vector((normals * weight[:, None]).ravel())


def sagging_field(shape: ShapeModel) -> np.ndarray:
    """(3V,) unit-norm ageing of the soft tissue: cheeks, jowls and lips descend and recede."""
    mask = shape.region_mask("cheeks") | shape.region_mask("chin") | shape.region_mask("mouth")
    weight = smooth_region_weight(shape.mean, mask, falloff_mm=10.0)
    return unit_vector((weight[:, None] * np.array([0.0, -1.0, -0.3])[None, :]).ravel())


def size_field(shape: ShapeModel) -> np.ndarray:
    """(3V,) unit-norm isotropic growth about the face's centroid."""
    return unit_vector((shape.mean - shape.mean.mean(axis=0)).ravel())


def _variance_shares(k: int, shape_param: float, rng: np.random.Generator) -> np.ndarray:
    v = rng.gamma(shape_param, size=k)
    return v / v.sum()


@dataclass
class _BmiModel:
    """BMI's non-genetic model (intercept by population and sex) and the face's response to it."""

    direction: np.ndarray  # (3V,) per kg/m^2
    reference: float  # cohort mean BMI of the intercepts: the face mean is at this BMI
    intercept: np.ndarray  # (P, 2): [population, sex (0 = F, 1 = M)]


@dataclass
class _ShapeEffects:
    """Per-SNP shape effects: regional loci first, then the polygenic background."""

    regions: np.ndarray  # (mr,) region of each regional locus
    regional: np.ndarray  # (mr, 3V) mm per ALT allele
    background: np.ndarray  # (m - mr, K) standardized shape coefficients per ALT allele


def build_face_truth(
    shape: ShapeModel,
    p: Preset,
    dosages: dict[str, np.ndarray],
    freqs: pd.DataFrame,
    picks: dict[str, np.ndarray],
    ids: np.ndarray,
    rng: np.random.Generator,
) -> FaceTruth:
    """Draw every effect and scale each component to its requested share of shape variance;
    ``dosages``: the int8 dosages (n, m) of the SNPs ``picks`` names "shape" and "bmi"."""
    total = shape.total_variance
    frac = p.variance_fractions()
    prior = np.array(list(p.populations.values()), dtype=float) / sum(p.populations.values())
    # The draws below share ``rng``; their order fixes the cohort a seed gives.
    offsets = _ancestry_offsets(shape, prior, frac["ancestry"], total, rng)
    d_sex = _sex_direction(shape, p.male_fraction, frac["sex"] * total, rng)
    d_age = _age_direction(shape, p.age_range, frac["age"] * total, rng)
    bmi = _bmi_model(shape, p, prior, frac["bmi"] * total)
    bmi_x = np.asarray(dosages["bmi"], dtype=float)
    bmi_effects = _bmi_snp_effects(bmi_x, rng)
    shape_x = dosages["shape"]  # int8, widened a chunk at a time (8 GB in float64 at 100,000 people)
    gen_total = frac["genetic"] * total
    weights = {r: smooth_region_weight(shape.mean, shape.region_mask(r)) for r in REGION_NAMES}
    shape_centre, dosage_var = column_moments(shape_x)
    effects = _shape_snp_effects(shape, p.architecture, dosage_var, weights, gen_total, rng)
    noise_share = _measurement_noise_share(shape, p, frac["residual"], total)
    residual_scale, region_weights, directions = _residual_parts(
        shape, (frac["residual"] - noise_share) * total, weights, _fixed_residual_directions(shape, p, d_age, bmi)
    )
    truth = FaceTruth(
        mean=shape.mean.ravel().copy(),
        scaled_basis=shape.scaled_basis,
        populations=np.array(list(p.populations)),
        population_prior=prior,
        population_offsets=offsets,
        male_fraction=p.male_fraction,
        sex_direction=d_sex,
        age_direction=d_age,
        age_centre=_AGE_CENTRE,
        age_curvature=_AGE_CURVATURE,
        age_range=np.array(p.age_range, dtype=float),
        bmi_direction=bmi.direction,
        bmi_reference=bmi.reference,
        bmi_intercept=bmi.intercept,
        bmi_age_slope=_BMI_AGE_SLOPE,
        bmi_residual_sd=float(np.sqrt((1 - _BMI_H2) * _BMI_SD**2)),
        bmi_effects=bmi_effects,
        regional_effects=effects.regional,
        regional_region=effects.regions.astype(str),
        background_effects=effects.background,
        residual_scale=residual_scale,
        residual_region_weights=region_weights,
        residual_directions=directions,
        measurement_sd=float(p.measurement_sd_mm) if noise_share > 0 else 0.0,
        **_snp_fields(ids, freqs.to_numpy(), picks, bmi_x, shape_centre),
    )
    _rescale_to_genetic_share(truth, shape_x, gen_total)
    _cap_locus_shares(truth, shape.basis, shape_x, dosage_var, p.architecture.max_locus_share, gen_total)
    return truth


def _ancestry_offsets(
    shape: ShapeModel, prior: np.ndarray, share: float, total: float, rng: np.random.Generator
) -> np.ndarray:
    """One offset per population (P, 3V), centred on the cohort mean, with between-population
    variance ``share`` x ``total``."""
    offsets = np.stack([random_shape_field(shape, rng) for _ in range(len(prior))])
    offsets -= prior @ offsets
    between = float(prior @ (offsets**2).sum(axis=1))
    offsets *= np.sqrt(share * total / between) if between > 0 and share > 0 else 0.0
    return offsets


def _sex_direction(shape: ShapeModel, male_fraction: float, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Half size (males larger), half a random shape direction; variance p(1-p)|d|^2."""
    d_sex = unit_vector(size_field(shape) + unit_vector(random_shape_field(shape, rng)))
    d_sex *= np.sqrt(variance / (male_fraction * (1 - male_fraction)))
    return d_sex


def _age_direction(
    shape: ShapeModel, age_range: tuple[float, float], variance: float, rng: np.random.Generator
) -> np.ndarray:
    """Calibrated nose lengthening, soft-tissue sagging, and a random ageing direction
    elsewhere (the nose is left to its calibrated change), per unit of g(age)."""
    grid = np.linspace(*age_range, 20001)
    t = (grid - _AGE_CENTRE) / 10.0
    var_g = float((t + _AGE_CURVATURE * t**2).var())
    nose = nose_lengthening_field(shape) * NOSE_MM_PER_DECADE
    keep_nose = 1.0 - smooth_region_weight(shape.mean, shape.region_mask("nose"))
    generic = unit_vector((random_shape_field(shape, rng).reshape(-1, 3) * keep_nose[:, None]).ravel())
    return _scale_to_norm(nose, sagging_field(shape) + 0.5 * generic, variance / var_g)


def _bmi_model(shape: ShapeModel, p: Preset, prior: np.ndarray, variance: float) -> _BmiModel:
    """Outward fat on cheeks, chin and jaw, scaled so that the face's BMI variance is
    ``variance``; BMI's own variance is that of its model (groups, age, within-group SD)."""
    pm = p.male_fraction
    intercept = np.array(
        [[_BMI_BASE + _BMI_POP.get(pop, 0.0) + _BMI_SEX[s] for s in ("F", "M")] for pop in p.populations]
    )
    cell_w = np.outer(prior, [1 - pm, pm])
    var_between = float((cell_w * intercept**2).sum() - (cell_w * intercept).sum() ** 2)
    var_age = (p.age_range[1] - p.age_range[0]) ** 2 / 12.0
    var_bmi = var_between + _BMI_AGE_SLOPE**2 * var_age + _BMI_SD**2
    return _BmiModel(
        direction=adiposity_field(shape) * np.sqrt(variance / var_bmi),
        reference=float((cell_w * intercept).sum()),
        intercept=intercept,
    )


def _bmi_snp_effects(bmi_x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """BMI per ALT allele of each BMI SNP, jointly scaled to BMI's SNP heritability."""
    raw = rng.standard_normal(bmi_x.shape[1])
    if not bmi_x.shape[1]:
        return raw
    bmi_var = bmi_x.var(axis=0)
    return raw * np.sqrt(_BMI_H2 * _BMI_SD**2 / max(float(np.sum(bmi_var * raw**2)), 1e-12))


def _shape_snp_effects(
    shape: ShapeModel,
    arch: GeneticArchitecture,
    var_x: np.ndarray,
    weights: dict[str, np.ndarray],
    gen_total: float,
    rng: np.random.Generator,
) -> _ShapeEffects:
    """Genetic shape effects, scaled with each SNP's dosage variance ``var_x`` in this cohort
    (GCTA-style): regional loci take ``regional_share`` of ``gen_total``, the background the rest."""
    mr = arch.n_regional_loci
    regions = rng.choice(list(_REGION_WEIGHTS), size=mr, p=np.array(list(_REGION_WEIGHTS.values())))
    share_r = _variance_shares(mr, arch.effect_shape, rng) * arch.regional_share * gen_total
    regional = np.empty((mr, 3 * shape.n_vertices))
    for j in range(mr):
        field = (random_shape_field(shape, rng).reshape(-1, 3) * weights[regions[j]][:, None]).ravel()
        regional[j] = unit_vector(field) * np.sqrt(share_r[j] / var_x[j])
    m_bg = arch.n_background_snps
    background = np.zeros((m_bg, shape.n_components))
    if m_bg:
        share_b = _variance_shares(m_bg, 1.0, rng) * (1 - arch.regional_share) * gen_total
        z = rng.standard_normal((m_bg, shape.n_components))
        norms2 = (z**2 * shape.eigenvalues[None, :]).sum(axis=1)
        background = z * np.sqrt(share_b / (var_x[mr:] * norms2))[:, None]
    return _ShapeEffects(regions=regions, regional=regional, background=background)


def _measurement_noise_share(shape: ShapeModel, p: Preset, residual_share: float, total: float) -> float:
    """Share of shape variance of the measurement noise (scan and registration error), which
    is part of the residual share and so may not exceed it."""
    noise_share = 3 * shape.n_vertices * p.measurement_sd_mm**2 / total
    if noise_share > residual_share:
        raise GenofaceError(
            f"measurement noise of {p.measurement_sd_mm} mm is {noise_share:.3f} of shape variance, more than the "
            f"residual share {residual_share:.3f} of preset {p.name!r}"
        )
    return noise_share


def _fixed_residual_directions(shape: ShapeModel, p: Preset, d_age: np.ndarray, bmi: _BmiModel) -> list[np.ndarray]:
    """Apparent age, facial fat and overall size, each scaled to its SD (see _residual_parts)."""
    return [
        d_age * (p.apparent_age_sd_years / 10.0),
        bmi.direction * p.facial_fat_sd_bmi,
        _SIZE_SD * (shape.mean - shape.mean.mean(axis=0)).ravel(),
    ]


def _snp_fields(
    ids: np.ndarray, freqs: np.ndarray, picks: dict[str, np.ndarray], bmi_x: np.ndarray, shape_centre: np.ndarray
) -> dict[str, np.ndarray]:
    """The SNP ids, pooled mean dosages and population frequencies :class:`FaceTruth` keeps."""
    return {
        "bmi_snps": ids[picks["bmi"]],
        "bmi_centre": bmi_x.mean(axis=0),
        "bmi_freqs": freqs[:, picks["bmi"]],
        "shape_snps": ids[picks["shape"]],
        "shape_centre": shape_centre,
        "shape_freqs": freqs[:, picks["shape"]],
        "ancestry_snps": ids[picks["ancestry"]],
        "ancestry_freqs": freqs[:, picks["ancestry"]],
        "x_snps": ids[picks["x"]],
        "x_freqs": freqs[:, picks["x"]],
    }


def _rescale_to_genetic_share(truth: FaceTruth, shape_x: np.ndarray, gen_total: float) -> None:
    """Per-SNP scaling ignores LD and the covariance that population structure induces between
    causal SNPs; rescale so the genetic share holds in this cohort, as GCTA's --simu-qt does."""
    realized = _component_variance(truth.genetic_value, shape_x)
    if realized > 0:
        factor = np.sqrt(gen_total / realized)
        truth.regional_effects *= factor
        truth.background_effects *= factor


def component_loadings(truth: FaceTruth, basis: np.ndarray) -> np.ndarray:
    """Each causal SNP's effect on each shape component (m, K): mm along the orthonormal
    ``basis`` columns per ALT allele, regional loci first."""
    regional = truth.regional_effects @ basis
    background = truth.background_effects * np.sqrt((truth.scaled_basis**2).sum(axis=0))[None, :]
    return np.vstack([regional, background])


def locus_component_shares(
    truth: FaceTruth, basis: np.ndarray, dosage_var: np.ndarray, component_var: np.ndarray
) -> np.ndarray:
    """Share of each shape component's variance ``component_var`` (K,) that each causal SNP
    explains alone, 2pq b² / var (m, K), from its dosage variance ``dosage_var`` (m,)."""
    return dosage_var[:, None] * component_loadings(truth, basis) ** 2 / component_var[None, :]


def _genetic_component_variance(truth: FaceTruth, basis: np.ndarray, shape_x: np.ndarray) -> np.ndarray:
    """Realized variance of the genetic value along each shape component (K,), in chunks."""
    loadings = component_loadings(truth, basis)
    n = shape_x.shape[0]
    total, sq = np.zeros(basis.shape[1]), np.zeros(basis.shape[1])
    for start in range(0, n, _CHUNK):
        part = (shape_x[start : start + _CHUNK] - truth.shape_centre[None, :]) @ loadings
        total += part.sum(axis=0)
        sq += (part**2).sum(axis=0)
    return sq / n - (total / n) ** 2


def _cap_locus_shares(
    truth: FaceTruth, basis: np.ndarray, shape_x: np.ndarray, dosage_var: np.ndarray, cap: float, gen_total: float
) -> None:
    """Shrink every causal SNP that explains more than ``cap`` of a shape component's variance,
    and give what they lose to the others so that the genetic share holds (GCTA-style rescale).

    A component's variance is taken at its lower bound: the residual's variance along it plus the
    genetic variance; sex, age, BMI and ancestry only add to it, so the share a locus explains in
    the faces is at most what is capped here. Loops because the rescale lifts the capped loci a
    little again."""
    if cap >= 1.0:
        return
    residual = (basis.T @ truth.residual_factor(age_known=True, bmi_known=True)) ** 2
    floor = residual.sum(axis=1) + truth.measurement_sd**2
    mr = truth.regional_effects.shape[0]
    for _ in range(_CAP_ITERATIONS):
        component_var = floor + _genetic_component_variance(truth, basis, shape_x)
        worst = locus_component_shares(truth, basis, dosage_var, component_var).max(axis=1)
        over = np.flatnonzero(worst > cap)
        if not len(over):
            return
        factor = np.sqrt(_CAP_MARGIN * cap / worst[over])
        regional, background = over < mr, over >= mr
        truth.regional_effects[over[regional]] *= factor[regional][:, None]
        truth.background_effects[over[background] - mr] *= factor[background][:, None]
        _rescale_to_genetic_share(truth, shape_x, gen_total)
    share = gen_total / float((truth.scaled_basis**2).sum())
    raise GenofaceError(
        f"no causal SNP may explain more than {cap:.3f} of a shape component's variance, but a genetic share of "
        f"{share:.3f} cannot be spread so over {len(dosage_var)} SNPs; use more causal SNPs, a smaller genetic "
        "share or a larger max_locus_share"
    )


def _residual_parts(
    shape: ShapeModel, budget: float, region_weight: dict[str, np.ndarray], fixed: list[np.ndarray]
) -> tuple[float, np.ndarray, np.ndarray]:
    """Split the residual's variance ``budget`` (mm^2) into global shape-space variation, local
    variation of each region and variation along ``fixed`` (the age, BMI and size directions,
    each scaled to its SD).

    Every effect the simulator draws then lies inside the residual's span: a regional locus is
    a region-weighted shape-space field, and sex, age and BMI move the face along these fixed
    directions. Otherwise a face would carry the exact signature of a genome's localized loci
    and of a person's age, blurred only by measurement noise, and the oracle would identify
    everyone (real faces vary there too).
    Returns (global scale on ``scaled_basis``, per-region vertex weights (R, V), directions (D, 3V)).
    """
    directions = np.stack(fixed)
    dir_var = float((directions**2).sum())
    if dir_var > _MAX_FIXED_SHARE * budget:  # small residual shares: leave room for the rest
        directions *= np.sqrt(_MAX_FIXED_SHARE * budget / dir_var) if dir_var > 0 else 0.0
        dir_var = float((directions**2).sum())
    rest = max(budget - dir_var, 0.0)
    vertex_var = (shape.scaled_basis**2).sum(axis=1).reshape(-1, 3).sum(axis=1)  # (V,)
    weights = np.stack([region_weight[r] for r in REGION_NAMES])  # (R, V)
    region_var = (weights**2 * vertex_var[None, :]).sum(axis=1)
    share = np.array([_REGION_WEIGHTS[r] for r in REGION_NAMES]) * _RESIDUAL_REGIONAL_SHARE * rest
    weights = weights * np.sqrt(share / np.maximum(region_var, 1e-12))[:, None]
    return float(np.sqrt((1 - _RESIDUAL_REGIONAL_SHARE) * rest / shape.total_variance)), weights, directions


def column_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each column of ``x`` (any dtype), in float64 a chunk of rows at a
    time, so that an int8 matrix is never widened whole."""
    n = x.shape[0]
    total, sq = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for start in range(0, n, _CHUNK):
        part = np.asarray(x[start : start + _CHUNK], dtype=np.float64)
        total += part.sum(axis=0)
        sq += (part**2).sum(axis=0)
    mean = total / n
    return mean, np.maximum(sq / n - mean**2, 0.0)


def _component_variance(fn, x: np.ndarray) -> float:
    """Total variance (trace of the covariance) of ``fn(x)`` over the rows of x, in chunks."""
    sq, n = 0.0, x.shape[0]
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
