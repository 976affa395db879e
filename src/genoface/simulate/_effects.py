"""Drawing the simulated genotype-to-face map: effect fields on the template, scaled so that
each source of variation takes its preset's share of total shape variance."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import trimesh
from scipy.spatial import cKDTree

from genoface.core.errors import GenofaceError
from genoface.shape import REGION_NAMES, ShapeModel
from genoface.simulate._faces import FaceTruth
from genoface.simulate._genomes import SimulatedGenomes
from genoface.simulate._presets import Preset

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
_APPARENT_AGE_SD_DECADES = 0.5
_FACIAL_FAT_SD_BMI = 1.5
_SIZE_SD = 0.01  # relative scale
_RESIDUAL_REGIONAL_SHARE = 0.4


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


def build_face_truth(
    shape: ShapeModel,
    p: Preset,
    genomes: SimulatedGenomes,
    freqs: pd.DataFrame,
    picks: dict[str, np.ndarray],
    ids: np.ndarray,
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
    offsets = np.stack([random_shape_field(shape, rng) for _ in range(n_pop)])
    offsets -= prior @ offsets
    between = float(prior @ (offsets**2).sum(axis=1))
    offsets *= np.sqrt(frac["ancestry"] * total / between) if between > 0 and frac["ancestry"] > 0 else 0.0

    # Sex: half size (males larger), half a random shape direction; variance p(1-p)|d|^2.
    d_sex = unit_vector(size_field(shape) + unit_vector(random_shape_field(shape, rng)))
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
    generic = unit_vector((random_shape_field(shape, rng).reshape(-1, 3) * keep_nose[:, None]).ravel())
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
    bmi_effects = (
        raw * np.sqrt(_BMI_H2 * _BMI_SD**2 / max(float(np.sum(bmi_var * raw**2)), 1e-12)) if len(bmi_cols) else raw
    )

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
        field = (random_shape_field(shape, rng).reshape(-1, 3) * weights[regions[j]][:, None]).ravel()
        regional[j] = unit_vector(field) * np.sqrt(share_r[j] / var_x[j])
    m_bg = arch.n_background_snps
    background = np.zeros((m_bg, shape.n_components))
    if m_bg:
        share_b = _variance_shares(m_bg, 1.0, rng) * (1 - arch.regional_share) * gen_total
        z = rng.standard_normal((m_bg, shape.n_components))
        norms2 = (z**2 * shape.eigenvalues[None, :]).sum(axis=1)
        background = z * np.sqrt(share_b / (var_x[mr:] * norms2))[:, None]

    # Measurement noise (scan and registration error) is part of the residual share.
    noise_share = 3 * shape.n_vertices * p.measurement_sd_mm**2 / total
    if noise_share > frac["residual"]:
        raise GenofaceError(
            f"measurement noise of {p.measurement_sd_mm} mm is {noise_share:.3f} of shape variance, more than the "
            f"residual share {frac['residual']:.3f} of preset {p.name!r}"
        )
    residual_scale, region_weights, directions = _residual_parts(
        shape,
        (frac["residual"] - noise_share) * total,
        weights,
        [
            d_age * _APPARENT_AGE_SD_DECADES,
            d_bmi * _FACIAL_FAT_SD_BMI,
            _SIZE_SD * (shape.mean - shape.mean.mean(axis=0)).ravel(),
        ],
    )
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
        residual_scale=residual_scale,
        residual_region_weights=region_weights,
        residual_directions=directions,
        measurement_sd=float(p.measurement_sd_mm) if noise_share > 0 else 0.0,
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
    if dir_var > 0.5 * budget:  # small residual shares: keep the fixed directions a minority
        directions *= np.sqrt(0.5 * budget / dir_var) if dir_var > 0 else 0.0
        dir_var = float((directions**2).sum())
    rest = max(budget - dir_var, 0.0)
    vertex_var = (shape.scaled_basis**2).sum(axis=1).reshape(-1, 3).sum(axis=1)  # (V,)
    weights = np.stack([region_weight[r] for r in REGION_NAMES])  # (R, V)
    region_var = (weights**2 * vertex_var[None, :]).sum(axis=1)
    share = np.array([_REGION_WEIGHTS[r] for r in REGION_NAMES]) * _RESIDUAL_REGIONAL_SHARE * rest
    weights = weights * np.sqrt(share / np.maximum(region_var, 1e-12))[:, None]
    return float(np.sqrt((1 - _RESIDUAL_REGIONAL_SHARE) * rest / shape.total_variance)), weights, directions


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
