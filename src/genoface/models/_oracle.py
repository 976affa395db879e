"""The oracle: E[face | genome, covariates] under the simulator's true map (simulated cohorts only).

It is the limit every other model is measured against. It infers population and sex from the
genome the way the simulation makes them (Hardy-Weinberg likelihoods), imputes missing causal
genotypes by their expectation, and integrates out covariates it is not given.

Matching uses the likelihood ratio P(face | genome) / P(face): the most likely owner of a genome
is not the face with the highest density around the genome's prediction (a face near the
population mean is close to every prediction) but the one whose density rises most given the
genome. By Neyman-Pearson the ratio is also the optimal verification score.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from genoface.core.errors import GenofaceError
from genoface.features import covariate_arrays
from genoface.genetics import align_dosages
from genoface.models._base import FaceModel, genotype_arrays
from genoface.models._registry import register_model
from genoface.simulate import FaceTruth

_SNP_LISTS = ("shape_snps", "bmi_snps", "ancestry_snps", "x_snps")
# Floor of the per-coordinate noise variance (mm^2): faces are stored as float32.
_EPS_MM2 = 1e-4


@register_model
class OracleModel(FaceModel):
    """The true genotype-to-face map of a simulated cohort (reads the cohort's ``truth/``)."""

    name = "oracle"
    score_is_log_lr = True

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
        genotypes = self.on_panel(genotypes)  # the allele matcher: file alleles as in training
        ids, g, variant_ids = genotype_arrays(genotypes)
        dosage = {k: align_dosages(g, variant_ids, getattr(self.truth_, k)) for k in _SNP_LISTS}
        return self.truth_.expected_face(dosage, **covariate_arrays(ids, covariates))

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """log P(face | genome, covariates) - log P(face) under the simulated model.

        The numerator is Gaussian around E[face | genome, covariates] with covariance
        B B^T + sd^2 I (:meth:`FaceTruth.residual_factor`); the denominator is the mixture of
        :meth:`FaceTruth.marginal_components`. Both use the Woodbury identity in the low-rank
        space of their factors, so no (3V, 3V) matrix is formed.
        """
        self.check_faces(faces)
        ids = genotype_arrays(genotypes)[0]
        cov = covariate_arrays(ids, covariates)
        known = lambda x: x is not None and not np.isnan(x).any()  # noqa: E731
        b = self.truth_.residual_factor(age_known=known(cov["age"]), bmi_known=known(cov["bmi"]))
        pred = self.predict(genotypes, covariates).reshape(len(ids), -1)
        obs = np.asarray(faces, dtype=np.float64).reshape(len(faces), -1)
        eps = self._noise_variance()
        m_inv, logdet = _woodbury(b, eps)
        pa, fa = pred @ b, obs @ b  # (n, r), (m, r)
        sq = (pred**2).sum(1)[:, None] - 2 * pred @ obs.T + (obs**2).sum(1)[None, :]
        low = (
            np.einsum("ir,rs,is->i", pa, m_inv, pa)[:, None]
            - 2 * pa @ m_inv @ fa.T
            + np.einsum("jr,rs,js->j", fa, m_inv, fa)[None, :]
        )
        return -0.5 * (sq - low) / eps - 0.5 * logdet - self.marginal_log_density(faces)[None, :]

    def marginal_log_density(self, faces: np.ndarray) -> np.ndarray:
        """log P(face) (n_faces,) up to the constant shared with the numerator; cached per faces
        array (the evaluation scores one gallery in every setting and at every SNP fraction)."""
        obs = np.asarray(faces, dtype=np.float64).reshape(len(faces), -1)
        key = hashlib.sha1(obs.tobytes()).hexdigest()
        cache = self.__dict__.setdefault("_marginal_cache", {})
        if key not in cache:
            eps = self._noise_variance()
            terms = []
            for weight, mean, factor in self.truth_.marginal_components():
                m_inv, logdet = _woodbury(factor, eps)
                d = obs - mean[None, :]
                da = d @ factor
                quad = ((d**2).sum(1) - np.einsum("jr,rs,js->j", da, m_inv, da)) / eps
                terms.append(np.log(weight) - 0.5 * (quad + logdet))
            cache.clear()  # one gallery at a time
            cache[key] = logsumexp(np.stack(terms), axis=0)
        return cache[key]

    def _noise_variance(self) -> float:
        return max(self.truth_.measurement_sd**2, _EPS_MM2)

    def to_arrays(self) -> dict[str, Any]:
        return {f.name: getattr(self.truth_, f.name) for f in fields(FaceTruth)}

    def _from_arrays(self, state: dict[str, Any]) -> None:
        self.truth_ = FaceTruth(**state)


def _woodbury(factor: np.ndarray, eps: float) -> tuple[np.ndarray, float]:
    """For covariance eps I + C C^T (C: (d, r)): (eps I_r + C^T C)^-1 and log det of the
    covariance minus d log(eps) (the part that differs between covariances)."""
    inner = eps * np.eye(factor.shape[1]) + factor.T @ factor
    sign, logdet = np.linalg.slogdet(inner / eps)
    return np.linalg.inv(inner), float(logdet)
