"""The polygenic background: GBLUP of each shape component on all SNPs, with the genetic and
residual variances of each component estimated by maximum (marginal) likelihood.

Var(y_c) = sigma2_g,c K + sigma2_e,c I with K = Z Z' / p (Z: standardized SNPs). One
eigendecomposition of K (or of Z'Z when there are fewer SNPs than people) serves every
component: after it, each component's likelihood is a function of one number, the heritability
h2_c, maximized on [0, 0.99] by a bounded scalar search. The BLUP is kept as SNP effects
beta_c = Z' (K + delta_c I)^-1 y_c / p (delta_c = sigma2_e / sigma2_g), so a new genome is
predicted from its own SNPs, without the training people.

Z is never held whole when it comes from a genotype matrix (:class:`StandardizedSNPs`): at
10,000 people x 100,000 SNPs it would take 4 GB in float32 and 8 GB in float64. K is summed
block of SNPs by block, and Z' is applied the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, eigh
from scipy.optimize import minimize_scalar

from genoface.genetics import iter_blocks, standardize

#: Largest heritability searched: at 1 the residual variance vanishes and delta is 0.
_MAX_H2 = 0.99
#: SNPs per block of Z: 10,000 people x 2,048 SNPs are 160 MB in float64.
_CHUNK = 2048
#: K is summed in float32 (BLAS ssyrk), 2.4 times as fast as in float64: 40 s instead of 96 s
#: at 10,000 people x 100,000 SNPs. Z's values are float32 anyway. Measured at 5,000 x 47,000
#: against float64: heritabilities, SNP effects and the BLUP move by 1e-6 (relative) at most.
#: The eigendecomposition stays in float64 (in float32 they would move by 2e-4).
_GRAM_DTYPE = np.float32


@dataclass
class Background:
    """SNP effects (p, d) of the BLUP (None when not asked for), and per component:
    heritability, genetic and residual variance, the share of the genetic variance the BLUP
    predicts in the training people, and the BLUP of their genetic values (n, d), Z beta."""

    coef: np.ndarray | None
    h2: np.ndarray
    genetic_var: np.ndarray
    residual_var: np.ndarray
    reliability: np.ndarray
    fitted: np.ndarray


class StandardizedSNPs:
    """Z (n, p): the standardized dosages (float32, as :func:`~genoface.genetics.standardize`
    gives them) of the columns ``cols`` of an int8 genotype matrix, centred on their means in
    these people, read ``chunk`` SNPs at a time and never held whole.

    ``centre`` (float32, p), what a new genome's standardized dosages are centred by, is
    computed by the first complete pass over :meth:`blocks`."""

    def __init__(self, genotypes, cols: np.ndarray, freq: np.ndarray, chunk: int = _CHUNK) -> None:
        self.genotypes = genotypes
        self.cols = np.asarray(cols, dtype=np.int64)
        self.freq = np.asarray(freq, dtype=np.float64)
        self.chunk = int(chunk)
        self.shape = (int(genotypes.shape[0]), len(self.cols))
        self.centre: np.ndarray | None = None

    def blocks(self, dtype=np.float64) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(j0, j1, Z[:, j0:j1])`` for consecutive blocks of SNPs, in ``dtype`` (float64, or
        float32: the values are float32 either way). Each block lives in one buffer that the
        next block overwrites (a new large array per block would cost its page faults anew)."""
        n, p = self.shape
        first = self.centre is None
        centre = np.empty(p, dtype=np.float32) if first else self.centre
        buffer = np.empty(n * min(self.chunk, p), dtype=dtype)
        for j0, j1, g in iter_blocks(self.genotypes, self.chunk, columns=self.cols):
            z = standardize(g, self.freq[j0:j1])
            if first:
                centre[j0:j1] = z.mean(0)
            block = buffer[: z.size].reshape(z.shape)
            np.subtract(z, centre[j0:j1], out=block)  # centred in float32, then widened
            yield j0, j1, block
        self.centre = centre

    def dense(self) -> np.ndarray:
        """Z whole, float64 (only when it is small: fewer SNPs than people)."""
        z = np.empty(self.shape)
        for j0, j1, block in self.blocks():
            z[:, j0:j1] = block
        return z


def _blocks_of(z, dtype=np.float64) -> Iterator[tuple[int, int, np.ndarray]]:
    """Column blocks of an array or a :class:`StandardizedSNPs`."""
    if isinstance(z, StandardizedSNPs):
        yield from z.blocks(dtype)
        return
    for j0 in range(0, z.shape[1], _CHUNK):
        block = z[:, j0 : j0 + _CHUNK].astype(dtype, copy=False)
        yield j0, j0 + block.shape[1], block


class Kernel:
    """The eigendecomposition of K = Z Z' / p of the training people, computed once. ``z`` is
    an (n, p) array or a :class:`StandardizedSNPs`."""

    def __init__(self, z) -> None:
        self.z = z if isinstance(z, StandardizedSNPs) else np.asarray(z, dtype=np.float64)
        n, p = self.z.shape
        self.n, self.p = n, p
        if n <= p:
            # divide and conquer (LAPACK syevd): every eigenpair, 15% sooner than the default
            # syevr (measured at n = 3,000); at 10,000 people this is the fit's largest step
            lam, q = eigh(self._gram(), overwrite_a=True, check_finite=False, driver="evd")
        else:  # fewer SNPs than people: K's nonzero eigenpairs from the p x p matrix (Z is small)
            if isinstance(self.z, StandardizedSNPs):
                self.z = self.z.dense()
            lam, v = eigh(self.z.T @ self.z / p)
            keep = lam > 1e-10 * max(lam.max(), 1e-300)
            lam, v = lam[keep], v[:, keep]
            q = self.z @ v / np.sqrt(lam * p)
        # eigh sorts the eigenvalues up, so the ones dropped come first and a slice keeps the
        # rest (a view: no copy of the n x n eigenvectors)
        first = int(len(lam) - (lam > 1e-10 * max(lam.max(), 1e-300)).sum())
        self.lam, self.q = lam[first:], q[:, first:]

    def _gram(self) -> np.ndarray:
        """K (n, n) summed over blocks of SNPs in place (BLAS syrk: its lower triangle, which
        eigh reads), so that neither Z nor a second n x n matrix is built."""
        k = np.zeros((self.n, self.n), dtype=_GRAM_DTYPE, order="F")
        syrk = blas.dsyrk if _GRAM_DTYPE == np.float64 else blas.ssyrk
        for _, _, block in _blocks_of(self.z, _GRAM_DTYPE):
            # block.T is (b, n) in Fortran order, so no copy; trans=1 gives block @ block.T
            k = syrk(1.0, block.T, beta=1.0, c=k, trans=1, lower=1, overwrite_c=1)
        k = k.astype(np.float64, copy=False)
        k /= self.p
        return k

    def snp_effects(self, alpha: np.ndarray) -> np.ndarray:
        """Z' alpha / p (p, d) for alpha (n, d), block of SNPs by block."""
        if not isinstance(self.z, StandardizedSNPs):
            return self.z.T @ alpha / self.p
        out = np.empty((self.p, alpha.shape[1]))
        for j0, j1, block in _blocks_of(self.z):
            out[j0:j1] = block.T @ alpha / self.p
        return out


def _neg_log_lik(h2: float, lam: np.ndarray, proj2: np.ndarray, perp2: float, n: int) -> float:
    """Minus the profile log-likelihood of one component at heritability ``h2`` (scale
    profiled out): eigenvalues h2 lam + 1 - h2 on K's range, 1 - h2 on its null space."""
    e = h2 * lam + (1 - h2)
    n_perp = n - len(lam)
    quad = (proj2 / e).sum() + (perp2 / (1 - h2) if n_perp > 0 else 0.0)
    logdet = np.log(e).sum() + (n_perp * np.log(1 - h2) if n_perp > 0 else 0.0)
    return 0.5 * (n * np.log(quad / n) + logdet)


def fit_background(kernel: Kernel, y: np.ndarray, *, snp_effects: bool = True) -> Background:
    """ML heritability and BLUP of each column of ``y`` (n, d; centred). The SNP effects take
    one pass over Z; ``snp_effects=False`` skips them (backfitting needs only ``fitted``)."""
    y = np.asarray(y, dtype=np.float64)
    n, d = y.shape
    proj = kernel.q.T @ y  # (r, d)
    perp2 = np.maximum((y**2).sum(0) - (proj**2).sum(0), 0.0)
    h2 = np.empty(d)
    for c in range(d):
        best = minimize_scalar(
            _neg_log_lik,
            bounds=(0.0, _MAX_H2),
            method="bounded",
            args=(kernel.lam, proj[:, c] ** 2, perp2[c], n),
            options={"xatol": 1e-4},
        )
        h2[c] = best.x if best.fun <= _neg_log_lik(0.0, kernel.lam, proj[:, c] ** 2, perp2[c], n) else 0.0
    e = h2 * kernel.lam[:, None] + (1 - h2)  # (r, d)
    total = ((proj**2 / e).sum(0) + perp2 / (1 - h2)) / n
    # (K + delta I)^-1 y through the eigenvectors (1 / (lam + delta) = h2 / e); Z' kills the
    # part of y in K's null space. Its fitted values K (K + delta I)^-1 y are Z beta. A
    # component with no heritability gets none: alpha and the fit are 0.
    alpha = kernel.q @ (proj * h2 / e)
    fitted = kernel.q @ (proj * h2 * kernel.lam[:, None] / e)
    genetic = h2 * total
    reliability = np.zeros(d)
    for c in np.flatnonzero((h2 > 0) & (genetic > 0)):
        reliability[c] = min(float(fitted[:, c].var() / genetic[c]), 1.0)
    coef = kernel.snp_effects(alpha) if snp_effects else None
    return Background(coef, h2, genetic, (1 - h2) * total, reliability, fitted)
