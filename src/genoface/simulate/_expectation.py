"""What a linear predictor can be expected to learn of simulated faces (Daetwyler et al. 2008),
from the simulation's truth: the genetic variance of the faces along its principal directions,
each direction's SNP heritability, and the number of causal variants.

A linear predictor trained on N people whose trait has SNP heritability h² and M independent
causal effects explains, in expectation, the share

    r² = h² · N h² / (N h² + M)

of the trait's variance (Daetwyler et al. 2008, PLoS ONE 3:e3395; the squared accuracy
N h² / (N h² + M) times h²). The face is many traits: here each principal direction of the true
genetic values is one, with the variance that neither the genome nor the covariates explain as
its noise (the ``dna+cov`` setting fits sex, ancestry, age and BMI). The directions span the
whole face, not only the shape model's components: the regional loci move local patches of the
face, and in the realistic preset 38% of the genetic variance lies outside the
shape model's components (docs/bayes.md, "Learning curves").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.genetics import align_dosages
from genoface.simulate._faces import FaceTruth

_CHUNK = 1000  # people per chunk when computing genetic values
# Directions whose genetic variance is below this share of the largest are numerical zeros.
_RANK_TOL = 1e-9


def daetwyler_r2(h2: np.ndarray | float, n: np.ndarray | float, m: float) -> np.ndarray:
    """Expected share of a trait's variance that a linear predictor trained on ``n`` people
    explains: h² · n h² / (n h² + m), for SNP heritability ``h2`` and ``m`` independent causal
    effects (Daetwyler et al. 2008). Broadcasts over ``h2`` and ``n``."""
    h2, n = np.asarray(h2, dtype=float), np.asarray(n, dtype=float)
    if m <= 0:
        raise GenofaceError(f"the number of causal effects must be positive, got {m}")
    if np.any((h2 < 0) | (h2 > 1)):
        raise GenofaceError("SNP heritability must lie in [0, 1]")
    nh2 = n * h2
    return h2 * nh2 / (nh2 + m)


@dataclass(frozen=True)
class LinearExpectation:
    """The genetic architecture that Daetwyler's expectation needs, per principal direction of
    the true genetic values (largest first)."""

    genetic_variance: np.ndarray  # (k,) mm²: variance of the true genetic value along each direction
    residual_variance: np.ndarray  # (k,) mm²: what neither genome nor covariates explain, along it
    n_causal: int  # M: causal variants of the face, each taken as an independent segment

    @property
    def heritability(self) -> np.ndarray:
        """SNP heritability of each direction once the covariates are accounted for (k,)."""
        return self.genetic_variance / (self.genetic_variance + self.residual_variance)

    @property
    def total_genetic_variance(self) -> float:
        """mm², summed over directions: what the true map explains beyond the covariates."""
        return float(self.genetic_variance.sum())

    def explained(self, n: np.ndarray | float) -> np.ndarray:
        """Expected face variance (mm², summed over directions) that a linear predictor trained
        on ``n`` people explains from the genome."""
        n = np.asarray(n, dtype=float)
        phenotype = self.genetic_variance + self.residual_variance
        r2 = daetwyler_r2(self.heritability[:, None], n.reshape(1, -1), self.n_causal)
        return (phenotype[:, None] * r2).sum(axis=0).reshape(n.shape)


def linear_expectation(
    truth: FaceTruth, genotypes: np.ndarray, variant_ids: np.ndarray, groups: np.ndarray | None = None
) -> LinearExpectation:
    """Daetwyler's inputs from the simulation ``truth`` and the people whose ``genotypes``
    (n, m; columns named by ``variant_ids``) it generated. With ``groups`` (e.g. each person's
    population) the genetic values are centred within groups: their differences between groups
    are what the ancestry covariates already explain."""
    if truth.shape_snps.size == 0:
        raise GenofaceError("the simulation has no causal shape SNPs: there is nothing to learn from the genome")
    q = _genetic_span(truth)
    coords = _genetic_coordinates(truth, q, genotypes, variant_ids)
    if groups is not None:
        groups = np.asarray(groups)
        for g in np.unique(groups):
            coords[groups == g] -= coords[groups == g].mean(axis=0)
    cov = np.cov(coords, rowvar=False, bias=True)
    values, vectors = np.linalg.eigh(np.atleast_2d(cov))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = values > _RANK_TOL * max(values[0], 0.0)
    values, vectors = values[keep], vectors[:, keep]
    # Var(residual) along direction d = |B' d|² + sd², B the residual factor with age and BMI given.
    b = truth.residual_factor(age_known=True, bmi_known=True)
    along = (b.T @ q) @ vectors
    residual = (along**2).sum(axis=0) + truth.measurement_sd**2
    return LinearExpectation(genetic_variance=values, residual_variance=residual, n_causal=int(truth.shape_snps.size))


def _genetic_span(truth: FaceTruth) -> np.ndarray:
    """Orthonormal columns (3V, r) spanning every genetic effect: the shape components (the
    background) and the regional loci's fields."""
    span = np.hstack([truth.scaled_basis, truth.regional_effects.T])
    # Through the Gram matrix (r x r), not QR: QR of a (3V, r) matrix took seconds.
    values, vectors = np.linalg.eigh(span.T @ span)
    keep = values > _RANK_TOL * values.max()
    return span @ (vectors[:, keep] / np.sqrt(values[keep]))


def _genetic_coordinates(truth: FaceTruth, q: np.ndarray, genotypes: np.ndarray, variant_ids) -> np.ndarray:
    """True genetic values (n, r) in the coordinates of ``q``, computed in chunks of people
    (the full (n, 3V) genetic values of 10,000 people would be a gigabyte)."""
    missing = np.setdiff1d(truth.shape_snps, np.asarray(variant_ids, dtype=str))
    if missing.size:
        raise GenofaceError(
            f"the cohort lacks {missing.size} causal SNPs of its simulation truth (e.g. {missing[0]}); "
            "use the cohort as genoface simulate wrote it"
        )
    loadings = np.vstack([truth.regional_effects @ q, truth.background_effects @ (truth.scaled_basis.T @ q)])
    n = genotypes.shape[0]
    out = np.empty((n, q.shape[1]))
    for start in range(0, n, _CHUNK):
        x = align_dosages(genotypes[start : start + _CHUNK], variant_ids, truth.shape_snps)
        x = np.where(np.isnan(x), truth.shape_centre[None, :], x)  # a missing call counts as average
        out[start : start + _CHUNK] = (x - truth.shape_centre[None, :]) @ loadings
    return out
