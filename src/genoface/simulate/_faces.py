"""The simulated genotype-to-face map, and its exact conditional expectation (the oracle).

A face, flattened to 3V coordinates in mm, is

    mean + ancestry[pop] + sex_effect(sex) + g(age) * age_direction
         + (bmi - bmi_reference) * bmi_direction + genetic(genome) + residual

where ``g(age) = t + curvature * t**2`` with ``t = (age - age_centre) / 10`` (decades), BMI
itself depends on population, sex, age and a polygenic score, and the residual is Gaussian in
the shape space. :class:`FaceTruth` holds every parameter, is saved under ``truth/`` and
computes E[face | genome, covariates] exactly under the model; that is the ``oracle``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.core.files import write_json
from genoface.shape import REGION_NAMES

TRUTH_FILE = "face_model.npz"
TRUTH_META = "face_model.json"

# Frequencies are kept away from 0 and 1 so that likelihoods stay finite.
_FREQ_FLOOR = 1e-3


@dataclass(eq=False)
class FaceTruth:
    """Parameters of the genotype-to-face map (arrays flattened to 3V coordinates)."""

    mean: np.ndarray  # (3V,)
    scaled_basis: np.ndarray  # (3V, K): shape-space axes times their SD
    populations: np.ndarray  # (P,) str
    population_prior: np.ndarray  # (P,)
    population_offsets: np.ndarray  # (P, 3V)
    male_fraction: float
    sex_direction: np.ndarray  # (3V,): males get +1/2 of it, females -1/2
    age_direction: np.ndarray  # (3V,)
    age_centre: float
    age_curvature: float
    age_range: np.ndarray  # (2,): ages are uniform on [lo, hi]
    bmi_direction: np.ndarray  # (3V,) per kg/m^2
    bmi_reference: float
    bmi_intercept: np.ndarray  # (P, 2): [population, sex (0 = F, 1 = M)]
    bmi_age_slope: float  # kg/m^2 per year
    bmi_residual_sd: float
    bmi_snps: np.ndarray  # (mb,) variant ids
    bmi_effects: np.ndarray  # (mb,) kg/m^2 per ALT allele
    bmi_centre: np.ndarray  # (mb,) pooled mean dosage
    bmi_freqs: np.ndarray  # (P, mb) ALT frequency per population
    shape_snps: np.ndarray  # (m,) variant ids: regional loci first, then background
    shape_centre: np.ndarray  # (m,)
    shape_freqs: np.ndarray  # (P, m)
    regional_effects: np.ndarray  # (mr, 3V) mm per ALT allele
    regional_region: np.ndarray  # (mr,) region name of each regional locus
    background_effects: np.ndarray  # (m - mr, K) standardized shape coefficients per ALT allele
    residual_scale: float  # global part of the residual: residual_scale * scaled_basis @ z
    residual_region_weights: np.ndarray  # (R, V): local part, sum_r weight_r * (scaled_basis @ z_r)
    residual_directions: np.ndarray  # (D, 3V): apparent age, facial fat, size, times N(0, 1) each
    measurement_sd: float  # mm: independent noise on every coordinate (scanning, registration)
    ancestry_snps: np.ndarray  # (ma,) ids of ancestry-informative SNPs
    ancestry_freqs: np.ndarray  # (P, ma)
    x_snps: np.ndarray  # (mx,) ids of chromosome X SNPs
    x_freqs: np.ndarray  # (P, mx)

    @property
    def n_vertices(self) -> int:
        return self.mean.shape[0] // 3

    # ---- the generative model -------------------------------------------------------------

    def age_function(self, age: np.ndarray) -> np.ndarray:
        """g(age): the non-linear age effect multiplier (0 at ``age_centre``)."""
        t = (np.asarray(age, dtype=float) - self.age_centre) / 10.0
        return t + self.age_curvature * t**2

    def age_moments(self) -> tuple[float, float, float]:
        """E[g(A)], Var[g(A)] and E[A] for the uniform age distribution (numerical quadrature)."""
        grid = np.linspace(self.age_range[0], self.age_range[1], 20001)
        g = self.age_function(grid)
        return float(g.mean()), float(g.var()), float(grid.mean())

    def residual_factor(self, age_known: bool, bmi_known: bool) -> np.ndarray:
        """B (3V, r) such that face - E[face | genome, covariates] ~ N(0, B B^T + sd^2 I) under
        the model, with sd = ``measurement_sd``.

        The residual is Gaussian: global and per-region shape-space variation, variation along
        the age, BMI and size directions, and measurement noise; an age or BMI that is not given adds its
        own deviation along the age and BMI directions (BMI depends on age, so their deviations
        are correlated when both are unknown). Population and sex are taken as known from the
        genome, which is what their near-certain posteriors give.
        """
        cols = [self.residual_scale * self.scaled_basis]
        cols += [np.repeat(w, 3)[:, None] * self.scaled_basis for w in self.residual_region_weights]
        cols.append(self.residual_directions.T)
        grid = np.linspace(self.age_range[0], self.age_range[1], 20001)
        g = self.age_function(grid)
        var_g, var_a = float(g.var()), float(grid.var())
        cov_ga = float(np.mean((g - g.mean()) * (grid - grid.mean())))
        var_bmi_noise = self.bmi_residual_sd**2
        dirs, cov = [], None
        if not age_known and not bmi_known:
            dirs = [self.age_direction, self.bmi_direction]
            slope = self.bmi_age_slope
            cov = np.array([[var_g, slope * cov_ga], [slope * cov_ga, slope**2 * var_a + var_bmi_noise]])
        elif not age_known:
            dirs, cov = [self.age_direction], np.array([[var_g]])
        elif not bmi_known:
            dirs, cov = [self.bmi_direction], np.array([[var_bmi_noise]])
        if dirs:
            cols.append(np.column_stack(dirs) @ np.linalg.cholesky(cov))
        return np.hstack(cols)

    def draw_residual(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 3V) non-genetic individual variation plus measurement noise, as the faces carry it."""
        b = self.residual_factor(age_known=True, bmi_known=True)
        out = rng.standard_normal((n, b.shape[1])) @ b.T
        if self.measurement_sd > 0:
            out += self.measurement_sd * rng.standard_normal(out.shape)
        return out

    def sex_sign(self, is_male: np.ndarray) -> np.ndarray:
        return np.where(is_male, 0.5, -0.5)

    def genetic_value(self, shape_dosage: np.ndarray) -> np.ndarray:
        """(n, 3V) genetic effect on the face from dosages (n, m) aligned to ``shape_snps``."""
        x = shape_dosage - self.shape_centre[None, :]
        mr = self.regional_effects.shape[0]
        g = x[:, :mr] @ self.regional_effects
        if self.background_effects.shape[0]:
            g += (x[:, mr:] @ self.background_effects) @ self.scaled_basis.T
        return g

    def bmi_genetic_value(self, bmi_dosage: np.ndarray) -> np.ndarray:
        return (bmi_dosage - self.bmi_centre[None, :]) @ self.bmi_effects

    # ---- inference from a genome ----------------------------------------------------------

    def population_posterior(self, ancestry_dosage: np.ndarray) -> np.ndarray:
        """P(population | genome) (n, P) from ancestry SNPs under Hardy-Weinberg, missing skipped."""
        n, p = ancestry_dosage.shape[0], len(self.populations)
        if p == 1:
            return np.ones((n, 1))
        f = np.clip(self.ancestry_freqs, _FREQ_FLOOR, 1 - _FREQ_FLOOR)
        x = np.nan_to_num(ancestry_dosage)
        seen = ~np.isnan(ancestry_dosage)
        loglik = x @ np.log(f).T + ((2 - x) * seen) @ np.log1p(-f).T
        loglik += np.log(self.population_prior)[None, :]
        loglik -= loglik.max(axis=1, keepdims=True)
        post = np.exp(loglik)
        return post / post.sum(axis=1, keepdims=True)

    def male_probability(self, x_dosage: np.ndarray, population_post: np.ndarray) -> np.ndarray:
        """P(male | chromosome X genotypes): males are hemizygous (dosage 0/2), females diploid."""
        if x_dosage.shape[1] == 0:
            return np.full(x_dosage.shape[0], self.male_fraction)
        f = np.clip(population_post @ self.x_freqs, _FREQ_FLOOR, 1 - _FREQ_FLOOR)  # (n, mx)
        seen = ~np.isnan(x_dosage)
        x = np.nan_to_num(x_dosage)
        het = x == 1
        # Male: x/2 ~ Bernoulli(f); a heterozygous call is impossible (tiny error rate instead).
        male = np.where(het, np.log(1e-6), np.where(x > 1, np.log(f), np.log1p(-f)))
        female = x * np.log(f) + (2 - x) * np.log1p(-f) + np.where(het, np.log(2.0), 0.0)
        ll_m = (male * seen).sum(1) + np.log(self.male_fraction)
        ll_f = (female * seen).sum(1) + np.log1p(-self.male_fraction)
        return 1.0 / (1.0 + np.exp(np.clip(ll_f - ll_m, -700, 700)))

    def expected_face(
        self,
        dosage: dict[str, np.ndarray],
        is_male: np.ndarray | None = None,
        age: np.ndarray | None = None,
        bmi: np.ndarray | None = None,
    ) -> np.ndarray:
        """E[face | genome, covariates] (n, V, 3).

        ``dosage`` holds float dosages with NaN for missing, aligned to ``shape_snps``,
        ``bmi_snps``, ``ancestry_snps`` and ``x_snps`` under those keys. Covariates not given
        (None, or NaN for a person) are integrated out: sex is inferred from chromosome X,
        age follows its uniform distribution, BMI its model given the genome.
        """
        post = self.population_posterior(dosage["ancestry_snps"])
        n = post.shape[0]
        p_male = self.male_probability(dosage["x_snps"], post)
        if is_male is not None:
            p_male = np.where(np.isnan(is_male), p_male, is_male.astype(float))
        e_g, _, e_age = self.age_moments()
        age_arr = np.full(n, np.nan) if age is None else np.asarray(age, dtype=float)
        g_age = np.where(np.isnan(age_arr), e_g, self.age_function(np.nan_to_num(age_arr)))
        mean_age = np.where(np.isnan(age_arr), e_age, age_arr)

        shape_x = _impute(dosage["shape_snps"], post, self.shape_freqs)
        bmi_x = _impute(dosage["bmi_snps"], post, self.bmi_freqs)
        intercept = post @ self.bmi_intercept  # (n, 2)
        e_bmi = (
            (1 - p_male) * intercept[:, 0]
            + p_male * intercept[:, 1]
            + self.bmi_age_slope * (mean_age - self.age_centre)
            + self.bmi_genetic_value(bmi_x)
        )
        bmi_arr = np.full(n, np.nan) if bmi is None else np.asarray(bmi, dtype=float)
        bmi_used = np.where(np.isnan(bmi_arr), e_bmi, bmi_arr)

        face = (
            self.mean[None, :]
            + post @ self.population_offsets
            + (p_male - 0.5)[:, None] * self.sex_direction[None, :]
            + g_age[:, None] * self.age_direction[None, :]
            + (bmi_used - self.bmi_reference)[:, None] * self.bmi_direction[None, :]
            + self.genetic_value(shape_x)
        )
        return face.reshape(n, -1, 3)

    # ---- the marginal density of a face ----------------------------------------------------

    def marginal_components(self) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """P(face) as a mixture over population and sex: (weight, mean (3V,), factor C (3V, r))
        with covariance C C^T + sd^2 I per component.

        Within a component, age and BMI vary as they are drawn and the causal SNPs as
        independent Hardy-Weinberg draws at the population's frequencies (the Gaussian
        approximation of a sum of many small effects; LD between causal SNPs is ignored).
        """
        e_g, _, e_age = self.age_moments()
        base = self.residual_factor(age_known=False, bmi_known=False)
        mr = self.regional_effects.shape[0]
        out = []
        for p in range(len(self.populations)):
            f_shape, f_bmi = self.shape_freqs[p], self.bmi_freqs[p]
            sd = np.sqrt(2 * f_shape * (1 - f_shape))
            cols = [base, self.regional_effects.T * sd[:mr]]
            if self.background_effects.shape[0]:
                g = self.background_effects.T * sd[mr:]  # (K, m_bg)
                cols.append(self.scaled_basis @ np.linalg.cholesky(g @ g.T + 1e-12 * np.eye(len(g))))
            bmi_gen_var = float(np.sum(2 * f_bmi * (1 - f_bmi) * self.bmi_effects**2))
            cols.append(self.bmi_direction[:, None] * np.sqrt(bmi_gen_var))
            factor = np.hstack(cols)
            genetic = self.genetic_value(2 * f_shape[None, :])[0]
            bmi_gen = float(self.bmi_genetic_value(2 * f_bmi[None, :])[0])
            for s, w_s in ((0, 1 - self.male_fraction), (1, self.male_fraction)):
                e_bmi = self.bmi_intercept[p, s] + self.bmi_age_slope * (e_age - self.age_centre) + bmi_gen
                mean = (
                    self.mean
                    + self.population_offsets[p]
                    + (s - 0.5) * self.sex_direction
                    + e_g * self.age_direction
                    + (e_bmi - self.bmi_reference) * self.bmi_direction
                    + genetic
                )
                out.append((float(self.population_prior[p] * w_s), mean, factor))
        return out

    # ---- storage ----------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``face_model.npz`` (arrays) and ``face_model.json`` (scalars) into ``directory``."""
        arrays, scalars = {}, {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value.astype(str) if value.dtype.kind in "OU" else value
            else:
                scalars[f.name] = value
        np.savez_compressed(directory / TRUTH_FILE, **arrays)
        write_json(directory / TRUTH_META, scalars)

    @classmethod
    def load(cls, directory: Path) -> FaceTruth:
        npz, meta = Path(directory) / TRUTH_FILE, Path(directory) / TRUTH_META
        if not npz.exists() or not meta.exists():
            raise GenofaceError(
                f"{directory}: no simulation truth ({TRUTH_FILE}, {TRUTH_META}); the oracle needs a cohort made by genoface simulate"
            )
        with np.load(npz, allow_pickle=False) as d:
            arrays = {k: d[k] for k in d.files}
        values = {**arrays, **json.loads(meta.read_text())}
        names = {f.name for f in fields(cls)}
        missing = names - set(values)
        if missing:
            raise GenofaceError(f"{directory}: simulation truth lacks {sorted(missing)}; re-simulate the cohort")
        return cls(**{k: values[k] for k in names})

    def summary(self) -> dict:
        """Small JSON-able description (sizes, not arrays)."""
        return {
            "populations": self.populations.tolist(),
            "n_shape_snps": int(len(self.shape_snps)),
            "n_regional_loci": int(self.regional_effects.shape[0]),
            "n_bmi_snps": int(len(self.bmi_snps)),
            "regional_loci_per_region": {r: int((self.regional_region == r).sum()) for r in REGION_NAMES},
        }


def _impute(x: np.ndarray, post: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Replace missing dosages by their expectation given the population posterior."""
    if not np.isnan(x).any():
        return x
    return np.where(np.isnan(x), post @ (2.0 * freqs), x)
