"""The oracle: E[face | genome, covariates] under the simulator's true map (simulated cohorts only).

It is the limit every other model is measured against. It infers population and sex from the
genome the way the simulation makes them (Hardy-Weinberg likelihoods), imputes missing causal
genotypes by their expectation, and integrates out covariates it is not given.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Self

import numpy as np
import pandas as pd

from genoface.errors import GenofaceError
from genoface.genetics import align_dosages
from genoface.models._base import FaceModel, covariate_arrays, genotype_arrays
from genoface.models._registry import register_model
from genoface.simulate._faces import FaceTruth

_SNP_LISTS = ("shape_snps", "bmi_snps", "ancestry_snps", "x_snps")
# Floor of the per-coordinate noise variance (mm^2): faces are stored as float32.
_EPS_MM2 = 1e-4


@register_model
class OracleModel(FaceModel):
    """The true genotype-to-face map of a simulated cohort (reads the cohort's ``truth/``)."""

    name = "oracle"

    def __init__(self) -> None:
        pass

    def fit(self, cohort) -> Self:
        if not cohort.is_simulated or cohort.truth_dir is None:
            raise GenofaceError("the oracle needs a simulated cohort with its truth/ folder (genoface simulate)")
        self.truth_ = FaceTruth.load(cohort.truth_dir)
        self._remember_cohort(cohort)
        self.fitted_ = True
        return self

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        self._check_fitted()
        ids, g, variant_ids = genotype_arrays(genotypes)
        dosage = {k: align_dosages(g, variant_ids, getattr(self.truth_, k)) for k in _SNP_LISTS}
        if not pd.Index(variant_ids).isin(self.truth_.shape_snps).any():  # pandas: hashed, not O(n*m)
            raise GenofaceError(
                "none of the oracle's causal SNPs are in the genotypes; is this the simulated cohort's genome?"
            )
        return self.truth_.expected_face(dosage, **covariate_arrays(ids, covariates))

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """The exact log-likelihood (up to a constant) of each face given each genome under the
        simulated model: face ~ N(E[face | genome, covariates], B B^T + sd^2 I), computed with the
        Woodbury identity in the low-rank space of B (see :meth:`FaceTruth.residual_factor`)."""
        self.check_faces(faces)
        ids = genotype_arrays(genotypes)[0]
        cov = covariate_arrays(ids, covariates)
        known = lambda x: x is not None and not np.isnan(x).any()  # noqa: E731
        b = self.truth_.residual_factor(age_known=known(cov["age"]), bmi_known=known(cov["bmi"]))
        pred = self.predict(genotypes, covariates).reshape(len(ids), -1)
        obs = np.asarray(faces, dtype=np.float64).reshape(len(faces), -1)
        eps = max(self.truth_.measurement_sd**2, _EPS_MM2)
        m_inv = np.linalg.inv(eps * np.eye(b.shape[1]) + b.T @ b)
        pa, fa = pred @ b, obs @ b  # (n, r), (m, r)
        sq = (pred**2).sum(1)[:, None] - 2 * pred @ obs.T + (obs**2).sum(1)[None, :]
        low = (
            np.einsum("ir,rs,is->i", pa, m_inv, pa)[:, None]
            - 2 * pa @ m_inv @ fa.T
            + np.einsum("jr,rs,js->j", fa, m_inv, fa)[None, :]
        )
        return -0.5 * (sq - low) / eps

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        scalars, arrays = {}, {}
        for f in fields(FaceTruth):
            v = getattr(self.truth_, f.name)
            (arrays if isinstance(v, np.ndarray) else scalars)[f.name] = v
        return scalars, arrays

    def _set_state(self, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.truth_ = FaceTruth(**scalars, **arrays)
