"""Erlich's point as a model: a face from demographics alone.

The face is a ridge regression on what a genome gives away without any trait SNP — genetic sex
(chromosome X heterozygosity) and ancestry (principal components) — plus, in the ``dna+cov``
setting, age (with a quadratic term) and BMI. Every matching figure stands beside it: what a
model adds over this is what the DNA beyond demographics tells. It matches as ``lippert``
does (Gaussian likelihood ratio of shape-PCA scores with out-of-sample residual variances), so
the two differ only in the genome features used.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV

from genoface.core.errors import GenofaceError
from genoface.genetics import AncestryPCA
from genoface.models._base import FaceModel, covariate_arrays, genotype_arrays
from genoface.models._features import (
    complete_covariates,
    covariate_columns,
    genetic_male,
    holdout_residual_variance,
    likelihood_ratio_scores,
    moments,
    regression_state,
    restore_regression_state,
    with_prefix,
    without_prefix,
)
from genoface.models._registry import register_model
from genoface.shape import ShapePCA

_ALPHAS = np.logspace(-3, 4, 15)
_REGRESSION_VARIANCE = 0.99  # share of shape variance whose PCA scores are regressed


@register_model
class DemographicModel(FaceModel):
    """Face from genetic sex, ancestry PCs and (when given) age and BMI.

    Parameters
    ----------
    n_pcs : ancestry principal components used.
    n_shape_components : shape PCs matched (as in ``lippert``).
    male_het_max : a person whose chromosome X heterozygosity is below this is called male.
    random_state : seed of the randomized PCA.
    """

    name = "demographic"
    score_is_log_lr = True

    def __init__(
        self, n_pcs: int = 4, n_shape_components: int = 30, male_het_max: float = 0.02, random_state: int = 0
    ) -> None:
        self.n_pcs = n_pcs
        self.n_shape_components = n_shape_components
        self.male_het_max = male_het_max
        self.random_state = random_state

    def fit(self, cohort) -> Self:
        if not 1 <= int(self.n_pcs) <= 50:
            raise GenofaceError(f"n_pcs must be between 1 and 50, got {self.n_pcs}")
        self.pca_ = AncestryPCA(n_components=int(self.n_pcs), random_state=self.random_state)
        pcs = self.pca_.fit_transform(cohort.genotypes, cohort.variants)
        male = genetic_male(cohort.genotypes, cohort.variants, self.male_het_max)
        cov = covariate_arrays(cohort.sample_ids, cohort.covariates)
        self.age_moments_ = moments(cov["age"], "age", self.name)
        self.bmi_moments_ = moments(cov["bmi"], "bmi", self.name)
        # Ridge on shape-PCA scores (99% of the variance) rather than on every vertex coordinate:
        # the same fit where it matters, and at 8,000 people x 15,000 coordinates sklearn's
        # leave-one-out over vertex targets took 10 GB.
        faces = np.asarray(cohort.faces, dtype=np.float64)
        self.shape_pca_ = ShapePCA(n_components=_REGRESSION_VARIANCE).fit(faces)
        scores = self.shape_pca_.transform(faces)
        x_dna = self._features(pcs, male, None, None)
        self.dna_ = RidgeCV(alphas=_ALPHAS).fit(x_dna, scores)
        full = complete_covariates(cov)
        if full.sum() < 10:
            raise GenofaceError(f"only {int(full.sum())} training people have both age and BMI; need at least 10")
        x_cov = self._features(pcs[full], male[full], cov["age"][full], cov["bmi"][full])
        self.cov_ = RidgeCV(alphas=_ALPHAS).fit(x_cov, scores[full])
        # Matching: the leading shape-PCA scores with out-of-sample residual variances (as lippert).
        k = self._n_matched()
        self.resid_var_dna_ = holdout_residual_variance(x_dna, scores[:, :k], self.random_state, _ALPHAS)
        self.resid_var_cov_ = holdout_residual_variance(x_cov, scores[full, :k], self.random_state, _ALPHAS)
        self.n_vertices_ = cohort.n_vertices
        self._remember_cohort(cohort)
        self.fitted_ = True
        return self

    def _n_matched(self) -> int:
        return min(int(self.n_shape_components), self.shape_pca_.n_components_)

    def _features(self, pcs, male, age, bmi) -> np.ndarray:
        cols = [pcs, male[:, None]]
        if age is not None:
            cols += covariate_columns(age, bmi, self.age_moments_, self.bmi_moments_)
        return np.hstack(cols)

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        scores = self._predict_scores(genotypes, covariates)
        return self.shape_pca_.inverse_transform(scores).reshape(len(scores), self.n_vertices_, 3)

    def _predict_scores(self, genotypes, covariates: pd.DataFrame | None) -> np.ndarray:
        self._check_fitted()
        genotypes = self.on_panel(genotypes)  # the allele matcher: file alleles as in training
        ids, g, variant_ids = genotype_arrays(genotypes)
        pcs = self.pca_.transform(g, variant_ids)
        variants = genotypes.variants
        male = genetic_male(g, variants, self.male_het_max)
        cov = covariate_arrays(ids, covariates)
        if cov["is_male"] is not None:
            male = np.where(np.isnan(cov["is_male"]), male, cov["is_male"])
        scores = self.dna_.predict(self._features(pcs, male, None, None))
        full = complete_covariates(cov)
        if full is not None and full.any():
            x = self._features(pcs[full], male[full], cov["age"][full], cov["bmi"][full])
            scores[full] = self.cov_.predict(x)
        return scores

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Gaussian log-likelihood ratio of each face's shape scores given each genome's predicted
        face (see :func:`likelihood_ratio_scores`)."""
        self.check_faces(faces)
        ids = genotype_arrays(genotypes)[0]
        k = self._n_matched()
        pred = self._predict_scores(genotypes, covariates)[:, :k]
        var = np.broadcast_to(self.resid_var_dna_, pred.shape).copy()
        full = complete_covariates(covariate_arrays(ids, covariates))
        if full is not None:
            var[full] = self.resid_var_cov_
        observed = self.shape_pca_.transform(np.asarray(faces, dtype=np.float64))[:, :k]
        return likelihood_ratio_scores(pred, var, observed, self.shape_pca_.explained_variance_[:k])

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        scalars, arrays = regression_state(self)
        return scalars, arrays | with_prefix(self.pca_.to_arrays(), "pca")

    def _set_state(self, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        restore_regression_state(self, scalars, arrays)
        self.pca_ = AncestryPCA.from_arrays(without_prefix(arrays, "pca"))
