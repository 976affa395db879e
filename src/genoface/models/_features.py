"""Features that several models derive the same way from a genome and its covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV

from genoface.core.errors import GenofaceError
from genoface.core.schema import non_autosomal
from genoface.genetics import multivariate_gwas, select_snps, x_heterozygosity
from genoface.shape import ShapePCA


def genetic_male(genotypes, variants: pd.DataFrame, male_het_max: float) -> np.ndarray:
    """1.0 for a man, 0.0 for a woman, 0.5 when there is no chromosome X to tell: a man is
    hemizygous, so his X heterozygosity is (near) zero."""
    het = x_heterozygosity(genotypes, variants)
    return np.where(np.isnan(het), 0.5, (het < male_het_max).astype(float))


def select_face_snps(
    cohort, shape_scores: np.ndarray, covariates: np.ndarray, n_snps: int, clump_bp: int
) -> np.ndarray:
    """Columns of the autosomal SNPs most associated with the face: a multivariate GWAS of the
    shape scores (training people only) adjusted for ``covariates``, clumped within ``clump_bp``."""
    auto = np.flatnonzero(~non_autosomal(cohort.variants["chrom"]))
    result = multivariate_gwas(cohort.genotypes[:, auto], shape_scores, covariates)
    chosen = select_snps(
        result, n_snps=int(n_snps), variants=cohort.variants.iloc[auto].reset_index(drop=True), window_bp=clump_bp
    )
    if len(chosen) == 0:
        raise GenofaceError("the GWAS found no testable autosomal SNP; the model needs polymorphic SNPs")
    return auto[chosen]


def moments(x: np.ndarray | None, name: str, model: str) -> tuple[float, float]:
    """Mean and SD of a training covariate (SD 1 when constant); refuses an absent one."""
    if x is None or np.isnan(x).all():
        raise GenofaceError(f"the {model} model needs {name} for the training people (covariates.tsv)")
    sd = float(np.nanstd(x))
    return float(np.nanmean(x)), sd if sd > 0 else 1.0


def covariate_columns(age: np.ndarray, bmi: np.ndarray, age_moments, bmi_moments) -> list[np.ndarray]:
    """Standardized age, its square (ageing is not linear) and standardized BMI, as columns."""
    a = (age - age_moments[0]) / age_moments[1]
    return [a[:, None], (a**2)[:, None], ((bmi - bmi_moments[0]) / bmi_moments[1])[:, None]]


def complete_covariates(cov: dict) -> np.ndarray | None:
    """Mask of people with both age and BMI given, or None when neither column was given."""
    if cov["age"] is None or cov["bmi"] is None:
        return None
    return ~(np.isnan(cov["age"]) | np.isnan(cov["bmi"]))


def with_prefix(arrays: dict, prefix: str) -> dict[str, np.ndarray]:
    """``{prefix_key: array}``: a sub-model's arrays, namespaced inside one weights file."""
    return {f"{prefix}_{k}": np.asarray(v) for k, v in arrays.items()}


def without_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays stored by :func:`with_prefix` under ``prefix``, with their own names back."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in arrays.items() if k.startswith(f"{prefix}_")}


class LinearMap:
    """``x @ coef.T + intercept``: a fitted linear model rebuilt from stored coefficients."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef_, self.intercept_ = coef, intercept

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> LinearMap:
        own = without_prefix(arrays, prefix)
        return cls(own["coef"], own["intercept"])

    @staticmethod
    def to_arrays(model, prefix: str) -> dict[str, np.ndarray]:
        return with_prefix({"coef": model.coef_, "intercept": model.intercept_}, prefix)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef_.T + self.intercept_


def holdout_residual_variance(x: np.ndarray, y: np.ndarray, seed: int, alphas: np.ndarray) -> np.ndarray:
    """Out-of-sample residual variance per target of a ridge fit: fit on one half, measure on
    the other, and the other way round (in-sample residuals would make a likelihood
    over-confident)."""
    order = np.random.default_rng(seed).permutation(len(x))
    halves = (order[: len(x) // 2], order[len(x) // 2 :])
    resid = []
    for a, b in (halves, halves[::-1]):
        model = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x[a], y[a])
        resid.append(y[b] - model.predict(x[b]))
    return np.maximum(np.concatenate(resid).var(axis=0), 1e-9)


def likelihood_ratio_scores(
    predicted: np.ndarray, variance: np.ndarray, observed: np.ndarray, marginal_variance: np.ndarray
) -> np.ndarray:
    """(n_genomes, n_faces) log-likelihood ratio of independent Gaussian shape scores: face j's
    scores ``observed[j]`` around genome i's ``predicted[i]`` with ``variance[i]``, against
    their population spread N(0, ``marginal_variance``) (centred PCA scores).

    The ratio, not the likelihood alone, is what ranks faces for a genome: a face near the
    population mean is close to every prediction and would otherwise match every genome.
    """
    w = 1.0 / variance
    # -0.5 * sum_k w_ik (o_jk - p_ik)^2, expanded so the (n_genomes, n_faces) matrix is one product.
    quad = (w * predicted**2).sum(1)[:, None] - 2 * (w * predicted) @ observed.T + w @ (observed**2).T
    log_marginal = -0.5 * (observed**2 / marginal_variance).sum(1) - 0.5 * np.log(marginal_variance).sum()
    return -0.5 * quad - 0.5 * np.log(variance).sum(1)[:, None] - log_marginal[None, :]


def regression_state(model) -> tuple[dict, dict[str, np.ndarray]]:
    """What the shape-PCA regression models (demographic, lippert) share in their saved state:
    covariate moments, vertex count, shape PCA, residual variances and the two linear maps."""
    scalars = {"age_moments": model.age_moments_, "bmi_moments": model.bmi_moments_, "n_vertices": model.n_vertices_}
    arrays = with_prefix(model.shape_pca_.to_arrays(), "shape")
    arrays.update(resid_var_dna=model.resid_var_dna_, resid_var_cov=model.resid_var_cov_)
    arrays.update(LinearMap.to_arrays(model.dna_, "dna") | LinearMap.to_arrays(model.cov_, "cov"))
    return scalars, arrays


def restore_regression_state(model, scalars: dict, arrays: dict[str, np.ndarray]) -> None:
    """Set what :func:`regression_state` saved back on ``model``."""
    model.age_moments_, model.bmi_moments_ = tuple(scalars["age_moments"]), tuple(scalars["bmi_moments"])
    model.n_vertices_ = int(scalars["n_vertices"])
    model.shape_pca_ = ShapePCA.from_arrays(without_prefix(arrays, "shape"))
    model.resid_var_dna_, model.resid_var_cov_ = arrays["resid_var_dna"], arrays["resid_var_cov"]
    model.dna_ = LinearMap.from_arrays(arrays, "dna")
    model.cov_ = LinearMap.from_arrays(arrays, "cov")
