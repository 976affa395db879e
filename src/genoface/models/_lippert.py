"""Lippert et al. (PNAS 2017): face shape from genome-wide features, matched by likelihood; and
``demographic``, the same model without SNPs (Erlich's demographics-only baseline).

Shape PCA scores are predicted by ridge regression (penalty chosen per component by efficient
leave-one-out cross-validation) from ancestry PCs, genetic sex (chromosome X), SNPs selected by a
multivariate GWAS of the shape scores inside the training people, and — in the ``dna+cov``
setting — age and BMI. Matching combines the per-trait likelihoods: each face's shape scores
are Gaussian around the genome's predicted scores with the cross-validated residual variance
of each component, and the log-likelihoods add up.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.state import with_prefix, without_prefix
from genoface.features import (
    DemographicFeatures,
    LinearMap,
    PersonFeatures,
    fit_ridge,
    likelihood_ratio_scores,
    select_face_snps,
)
from genoface.genetics import align_dosages, standardize
from genoface.models._base import FaceModel, genotype_arrays
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
    n_snps : SNPs kept from the multivariate GWAS (clumped within ``clump_bp``); 0 for none.
    clump_bp : keep only the best SNP within this distance on a chromosome.
    random_state : seed of the randomized ancestry PCA and of the residual-variance halves.
    """

    name = "lippert"
    score_is_log_lr = True

    def __init__(
        self,
        n_shape_components: int = 30,
        n_pcs: int = 4,
        n_snps: int = 300,
        clump_bp: int = 20_000,
        random_state: int = 0,
    ) -> None:
        self.n_shape_components = n_shape_components
        self.n_pcs = n_pcs
        self.n_snps = n_snps
        self.clump_bp = clump_bp
        self.random_state = random_state

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, cohort) -> Self:
        n = cohort.n_samples
        if n < 20:
            raise GenofaceError(f"the {self.name} model needs at least 20 training people, got {n}")
        if int(self.n_snps) < 0:
            raise GenofaceError(f"n_snps must be 0 or more, got {self.n_snps}")
        faces = cohort.faces
        self.shape_pca_ = ShapePCA(n_components=min(int(self.n_shape_components), n - 2)).fit(faces)
        scores = self.shape_pca_.transform(faces)
        self.demographics_ = DemographicFeatures(self.n_pcs, self.random_state)
        people = self.demographics_.fit(cohort, self.name)
        self.snps_, g = self._select_snps(cohort, scores, people)
        self.snp_freq_ = np.nanmean(g, axis=0) / 2 if g.shape[1] else np.zeros(0)
        full = people.complete
        if full is None or full.sum() < 10:
            have = 0 if full is None else int(full.sum())
            raise GenofaceError(f"only {have} training people have both age and BMI; need at least 10")
        seed = int(self.random_state)
        self.dna_, self.resid_var_dna_ = fit_ridge(self._design(people, g), scores, _ALPHAS, seed)
        self.cov_, self.resid_var_cov_ = fit_ridge(self._design(people, g, full), scores[full], _ALPHAS, seed)
        self.n_vertices_ = cohort.n_vertices
        self._remember_cohort(cohort)
        self.fitted_ = True
        return self

    def _select_snps(self, cohort, scores: np.ndarray, people: PersonFeatures) -> tuple[np.ndarray, np.ndarray]:
        """SNP ids and their dosages (n, k): chosen inside the training people only, adjusting for
        sex and ancestry; none when ``n_snps`` is 0."""
        if int(self.n_snps) == 0:
            return np.array([], dtype=str), np.zeros((cohort.n_samples, 0))
        cols = select_face_snps(cohort, scores, people.genome_block(), self.n_snps, self.clump_bp)
        snps = cohort.variants["id"].to_numpy()[cols].astype(str)
        return snps, align_dosages(cohort.genotypes, cohort.variants["id"], snps)

    def _design(self, people: PersonFeatures, g: np.ndarray, covariate_rows: np.ndarray | None = None) -> np.ndarray:
        """Regression inputs: ancestry PCs, sex and standardized SNPs; with ``covariate_rows``,
        only those people, and their age, age² and BMI too."""
        rows = slice(None) if covariate_rows is None else covariate_rows
        z = standardize(np.where(np.isnan(g[rows]), -1, g[rows]).astype(np.int8), self.snp_freq_)
        cols = [people.genome_block(rows), z]
        if covariate_rows is not None:
            cols.append(self.demographics_.covariate_columns(people, rows))
        return np.hstack(cols).astype(np.float64)

    # ---- prediction and matching ------------------------------------------------------------------

    def _predict_scores(self, genotypes, covariates) -> tuple[np.ndarray, np.ndarray]:
        """Predicted shape scores (n, K) and the residual variance to use for each person (n, K)."""
        self._check_fitted()
        genotypes = self.on_panel(genotypes)  # the allele matcher: file alleles as in training
        _, g_all, variant_ids = genotype_arrays(genotypes)
        people = self.demographics_.transform(genotypes, covariates)
        g = align_dosages(g_all, variant_ids, self.snps_)
        scores = self.dna_.predict(self._design(people, g))
        var = np.broadcast_to(self.resid_var_dna_, scores.shape).copy()
        full = people.complete
        if full is not None and full.any():
            scores[full] = self.cov_.predict(self._design(people, g, full))
            var[full] = self.resid_var_cov_
        return scores, var

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        scores, _ = self._predict_scores(genotypes, covariates)
        return self.shape_pca_.inverse_transform(scores).reshape(len(scores), self.n_vertices_, 3)

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Sum over shape components of the Gaussian log-likelihood ratio of each face's scores
        given each genome's predicted scores (Lippert et al.'s maximum-likelihood matching; see
        :func:`~genoface.features.likelihood_ratio_scores`)."""
        self.check_faces(faces)
        pred, var = self._predict_scores(genotypes, covariates)
        observed = self.shape_pca_.transform(faces)
        return likelihood_ratio_scores(pred, var, observed, self.shape_pca_.explained_variance_)

    # ---- storage ------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        state = {"n_vertices": self.n_vertices_, "snps": self.snps_, "snp_freq": self.snp_freq_}
        state |= {"resid_var_dna": self.resid_var_dna_, "resid_var_cov": self.resid_var_cov_}
        state |= with_prefix(self.shape_pca_.to_arrays(), "shape")
        state |= with_prefix(self.demographics_.to_arrays(), "demographics")
        return state | with_prefix(self.dna_.to_arrays(), "dna") | with_prefix(self.cov_.to_arrays(), "cov")

    def _from_arrays(self, state: dict[str, Any]) -> None:
        self.n_vertices_ = int(state["n_vertices"])
        self.snps_ = np.asarray(state["snps"]).astype(str)
        self.snp_freq_ = np.asarray(state["snp_freq"], dtype=np.float64)
        self.resid_var_dna_, self.resid_var_cov_ = state["resid_var_dna"], state["resid_var_cov"]
        self.shape_pca_ = ShapePCA.from_arrays(without_prefix(state, "shape"))
        self.demographics_ = DemographicFeatures.from_arrays(without_prefix(state, "demographics"))
        self.dna_ = LinearMap.from_arrays(without_prefix(state, "dna"))
        self.cov_ = LinearMap.from_arrays(without_prefix(state, "cov"))


@register_model
class DemographicModel(LippertModel):
    """``lippert`` without SNPs: the face from genetic sex, ancestry PCs and (when given) age and
    BMI. Erlich's critique in model form: what a genome tells about a face through demographics
    alone, the baseline every genome-to-face figure stands beside.

    Parameters
    ----------
    n_shape_components, n_pcs, random_state : as in :class:`LippertModel`.
    """

    name = "demographic"

    def __init__(self, n_shape_components: int = 30, n_pcs: int = 4, random_state: int = 0) -> None:
        super().__init__(n_shape_components=n_shape_components, n_pcs=n_pcs, n_snps=0, random_state=random_state)
