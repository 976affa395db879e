"""Lippert et al. (PNAS 2017): face shape from genome-wide features, matched by likelihood.

Shape PCA scores are predicted by ridge regression (penalty chosen by efficient leave-one-out
cross-validation) from ancestry PCs, genetic sex (chromosome X), SNPs selected by a
multivariate GWAS of the shape scores inside the training people, and — in the ``dna+cov``
setting — age and BMI. Matching combines the per-trait likelihoods: each face's shape scores
are Gaussian around the genome's predicted scores with the cross-validated residual variance
of each component, and the log-likelihoods add up.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV

from genoface.core.errors import GenofaceError
from genoface.genetics import AncestryPCA, align_dosages, standardize
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
    select_face_snps,
    with_prefix,
    without_prefix,
)
from genoface.models._registry import register_model
from genoface.shape import ShapePCA

_ALPHAS = np.logspace(-2, 5, 15)


@register_model
class LippertModel(FaceModel):
    """Ridge regression of shape PCs on genome features, with likelihood matching.

    Parameters
    ----------
    n_shape_components : shape PCs predicted (and used for matching).
    n_pcs : ancestry principal components.
    n_snps : SNPs kept from the multivariate GWAS (clumped within ``clump_bp``).
    clump_bp : keep only the best SNP within this distance on a chromosome.
    male_het_max : chromosome X heterozygosity below which a person is called male.
    random_state : seed of the randomized ancestry PCA.
    """

    name = "lippert"
    score_is_log_lr = True

    def __init__(
        self,
        n_shape_components: int = 30,
        n_pcs: int = 4,
        n_snps: int = 300,
        clump_bp: int = 20_000,
        male_het_max: float = 0.02,
        random_state: int = 0,
    ) -> None:
        self.n_shape_components = n_shape_components
        self.n_pcs = n_pcs
        self.n_snps = n_snps
        self.clump_bp = clump_bp
        self.male_het_max = male_het_max
        self.random_state = random_state

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, cohort) -> Self:
        n = cohort.n_samples
        if n < 20:
            raise GenofaceError(f"the lippert model needs at least 20 training people, got {n}")
        k = min(int(self.n_shape_components), n - 2)
        self.shape_pca_ = ShapePCA(n_components=k).fit(np.asarray(cohort.faces, dtype=np.float64))
        scores = self.shape_pca_.transform(np.asarray(cohort.faces, dtype=np.float64))
        self.ancestry_ = AncestryPCA(n_components=int(self.n_pcs), random_state=self.random_state)
        pcs = self.ancestry_.fit_transform(cohort.genotypes, cohort.variants)
        male = genetic_male(cohort.genotypes, cohort.variants, self.male_het_max)

        # SNP selection inside the training people only, adjusting for sex and ancestry.
        cols = select_face_snps(cohort, scores, np.column_stack([pcs, male]), self.n_snps, self.clump_bp)
        self.snps_ = cohort.variants["id"].to_numpy()[cols].astype(str)
        g = align_dosages(cohort.genotypes, cohort.variants["id"], self.snps_)
        self.snp_freq_ = np.nanmean(g, axis=0) / 2

        cov = covariate_arrays(cohort.sample_ids, cohort.covariates)
        self.age_moments_ = moments(cov["age"], "age", self.name)
        self.bmi_moments_ = moments(cov["bmi"], "bmi", self.name)
        x_dna = self._features(pcs, male, g, None, None)
        self.dna_ = RidgeCV(alphas=_ALPHAS, alpha_per_target=True).fit(x_dna, scores)
        full = complete_covariates(cov)
        if full.sum() < 10:
            raise GenofaceError(f"only {int(full.sum())} training people have both age and BMI; need at least 10")
        x_cov = self._features(pcs[full], male[full], g[full], cov["age"][full], cov["bmi"][full])
        self.cov_ = RidgeCV(alphas=_ALPHAS, alpha_per_target=True).fit(x_cov, scores[full])
        # Residual variance per component, for the likelihood (out-of-sample via a refit on half).
        self.resid_var_dna_ = holdout_residual_variance(x_dna, scores, self.random_state, _ALPHAS)
        self.resid_var_cov_ = holdout_residual_variance(x_cov, scores[full], self.random_state, _ALPHAS)
        self.n_vertices_ = cohort.n_vertices
        self._remember_cohort(cohort)
        self.fitted_ = True
        return self

    def _features(self, pcs, male, g, age, bmi) -> np.ndarray:
        z = standardize(np.where(np.isnan(g), -1, g).astype(np.int8), self.snp_freq_)
        cols = [pcs, male[:, None], z]
        if age is not None:
            cols += covariate_columns(age, bmi, self.age_moments_, self.bmi_moments_)
        return np.hstack(cols).astype(np.float64)

    # ---- prediction and matching ------------------------------------------------------------------

    def _predict_scores(self, genotypes, covariates) -> tuple[np.ndarray, np.ndarray]:
        """Predicted shape scores (n, K) and the residual variance to use for each person (n, K)."""
        self._check_fitted()
        genotypes = self.on_panel(genotypes)  # the allele matcher: file alleles as in training
        ids, g_all, variant_ids = genotype_arrays(genotypes)
        pcs = self.ancestry_.transform(g_all, variant_ids)
        male = genetic_male(g_all, genotypes.variants, self.male_het_max)
        cov = covariate_arrays(ids, covariates)
        if cov["is_male"] is not None:
            male = np.where(np.isnan(cov["is_male"]), male, cov["is_male"])
        g = align_dosages(g_all, variant_ids, self.snps_)
        scores = self.dna_.predict(self._features(pcs, male, g, None, None))
        var = np.broadcast_to(self.resid_var_dna_, scores.shape).copy()
        full = complete_covariates(cov)
        if full is not None and full.any():
            x = self._features(pcs[full], male[full], g[full], cov["age"][full], cov["bmi"][full])
            scores[full] = self.cov_.predict(x)
            var[full] = self.resid_var_cov_
        return scores, var

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        scores, _ = self._predict_scores(genotypes, covariates)
        return self.shape_pca_.inverse_transform(scores).reshape(len(scores), self.n_vertices_, 3)

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Sum over shape components of the Gaussian log-likelihood ratio of each face's scores
        given each genome's predicted scores (Lippert et al.'s maximum-likelihood matching; see
        :func:`likelihood_ratio_scores`)."""
        self.check_faces(faces)
        pred, var = self._predict_scores(genotypes, covariates)
        observed = self.shape_pca_.transform(np.asarray(faces, dtype=np.float64))
        return likelihood_ratio_scores(pred, var, observed, self.shape_pca_.explained_variance_)

    # ---- storage ------------------------------------------------------------------------------------

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        scalars, arrays = regression_state(self)
        arrays |= with_prefix(self.ancestry_.to_arrays(), "ancestry")
        return scalars, arrays | {"snps": self.snps_, "snp_freq": self.snp_freq_}

    def _set_state(self, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        restore_regression_state(self, scalars, arrays)
        self.ancestry_ = AncestryPCA.from_arrays(without_prefix(arrays, "ancestry"))
        self.snps_ = arrays["snps"].astype(str)
        self.snp_freq_ = arrays["snp_freq"]
