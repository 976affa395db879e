"""The polygenic background: GBLUP of each shape component on all SNPs, with the genetic and
residual variances of each component estimated by maximum (marginal) likelihood.

Var(y_c) = sigma2_g,c K + sigma2_e,c I with K = Z Z' / p (Z: standardized SNPs). One
eigendecomposition serves every component: after it, each component's likelihood is a function
of one number, the heritability h2_c, maximized on [0, 0.99] by a bounded scalar search. The
BLUP is kept as SNP effects beta_c = Z' (K + delta_c I)^-1 y_c / p (delta_c = sigma2_e /
sigma2_g), so a new genome is predicted from its own SNPs, without the training people.

Two routes to the same eigenpairs (:class:`Kernel`):

- **dual** (n <= p): K itself, n x n, summed block of SNPs by block, and its eigenvectors q
  (n x r). At 10,000 people that is 0.8 GB; at 100,000 it would be 80 GB.
- **primal** (n > p): the p x p matrix Z'Z / p, summed block of people by block. K's nonzero
  eigenvalues are its eigenvalues lam, and K's eigenvectors are q = Z v / sqrt(lam p), which are
  never formed: q'y = diag(1 / sqrt(lam p)) v' (Z'y), the SNP effects are v diag(sqrt(lam p) / p)
  times the weights that multiply q, and the BLUP of the training people is Z times the SNP
  effects. Memory is p x p plus a block of Z: nothing grows as n x n or n x r.

Z is never held whole when it comes from a genotype matrix (:class:`StandardizedSNPs`): at
10,000 people x 100,000 SNPs it would take 4 GB in float32 and 8 GB in float64. Its int8 dosages
are re-standardized block by block in every pass, which costs less than reading 4 bytes a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, eigh
from scipy.optimize import minimize_scalar

from genoface.genetics import iter_blocks, standardize, take_columns
from genoface.genetics.engine import CALLS_PER_BLOCK

#: Largest heritability searched: at 1 the residual variance vanishes and delta is 0.
_MAX_H2 = 0.99
#: SNPs per block of Z: 10,000 people x 2,048 SNPs are 160 MB in float64.
_CHUNK = 2048
#: K is summed in float32 (BLAS ssyrk), 2.4 times as fast as in float64: 40 s instead of 96 s
#: at 10,000 people x 100,000 SNPs. Z's values are float32 anyway. Measured at 5,000 x 47,000
#: against float64: heritabilities, SNP effects and the BLUP move by 1e-6 (relative) at most.
#: The eigendecomposition stays in float64 (in float32 they would move by 2e-4). Z'Z of the
#: primal route is summed the same way.
_GRAM_DTYPE = np.float32
#: Eigenvalues below this share of the largest are K's null space.
_NULL = 1e-10


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
    these people, read a block at a time and never held whole.

    Genotypes that are not a NumPy array (a lazy cohort's
    :class:`~genoface.io.StoredDosages`, which reads its store where indexed) have the columns
    ``cols`` read once into an int8 matrix (n x p bytes: 1 GB at 100,000 people x 10,000
    SNPs), so that the passes over Z do not read the store again each time.

    ``centre`` (float32, p), what a new genome's standardized dosages are centred by, is
    computed by the first complete pass over :meth:`blocks` (or by :meth:`ensure_centre`)."""

    def __init__(self, genotypes, cols: np.ndarray, freq: np.ndarray, chunk: int = _CHUNK) -> None:
        self.cols = np.asarray(cols, dtype=np.int64)
        self.freq = np.asarray(freq, dtype=np.float64)
        self.chunk = int(chunk)
        self.shape = (int(genotypes.shape[0]), len(self.cols))
        self.centre: np.ndarray | None = None
        if isinstance(genotypes, np.ndarray):
            self.genotypes, self._columns = genotypes, self.cols
        else:  # read once; its columns are then all of Z's, in order
            self.genotypes, self._columns = take_columns(genotypes, self.cols), None

    def blocks(self, dtype=np.float64) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(j0, j1, Z[:, j0:j1])`` for consecutive blocks of SNPs, in ``dtype`` (float64, or
        float32: the values are float32 either way). Each block lives in one buffer that the
        next block overwrites (a new large array per block would cost its page faults anew)."""
        n, p = self.shape
        first = self.centre is None
        centre = np.empty(p, dtype=np.float32) if first else self.centre
        buffer = np.empty(n * min(self.chunk, p), dtype=dtype)
        for j0, j1, g in iter_blocks(self.genotypes, self.chunk, columns=self._columns):
            z = standardize(g, self.freq[j0:j1])
            if first:
                centre[j0:j1] = z.mean(0)
            block = buffer[: z.size].reshape(z.shape)
            np.subtract(z, centre[j0:j1], out=block)  # centred in float32, then widened
            yield j0, j1, block
        self.centre = centre

    def ensure_centre(self) -> np.ndarray:
        """``centre``, computed by a pass over the SNPs if no pass has yet."""
        if self.centre is None:
            for _ in self.blocks(np.float32):
                pass
        return self.centre

    def row_blocks(self, dtype=np.float32) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(i0, i1, Z[i0:i1])`` for consecutive blocks of people (C order, at most
        ``CALLS_PER_BLOCK`` values), centred as :meth:`blocks` centres them."""
        centre = self.ensure_centre()
        n, p = self.shape
        rows = max(1, CALLS_PER_BLOCK // max(p, 1))
        for i0 in range(0, n, rows):
            g = self.genotypes[i0 : i0 + rows]
            g = np.asarray(g, dtype=np.int8) if self._columns is None else take_columns(g, self._columns)
            z = standardize(g, self.freq)
            z -= centre
            yield i0, i0 + len(z), z.astype(dtype, copy=False)


def _blocks_of(z, dtype=np.float64) -> Iterator[tuple[int, int, np.ndarray]]:
    """Column blocks of an array or a :class:`StandardizedSNPs`."""
    if isinstance(z, StandardizedSNPs):
        yield from z.blocks(dtype)
        return
    for j0 in range(0, z.shape[1], _CHUNK):
        block = z[:, j0 : j0 + _CHUNK].astype(dtype, copy=False)
        yield j0, j0 + block.shape[1], block


def _row_blocks_of(z, dtype) -> Iterator[tuple[int, int, np.ndarray]]:
    """Row blocks (C order) of an array or a :class:`StandardizedSNPs`."""
    if isinstance(z, StandardizedSNPs):
        yield from z.row_blocks(dtype)
        return
    rows = max(1, CALLS_PER_BLOCK // max(z.shape[1], 1))
    for i0 in range(0, z.shape[0], rows):
        block = np.ascontiguousarray(z[i0 : i0 + rows], dtype=dtype)
        yield i0, i0 + len(block), block


def thin_evenly(cols: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` of ``cols`` (in genome order), evenly spaced along them: every
    (len / cap)-th, from the first."""
    cols = np.asarray(cols)
    if len(cols) <= int(cap):
        return cols
    return cols[(np.arange(int(cap)) * len(cols)) // int(cap)]


class Kernel:
    """The eigendecomposition of K = Z Z' / p of the training people, computed once. ``z`` is
    an (n, p) array or a :class:`StandardizedSNPs`.

    ``primal``: None takes the p x p route when there are fewer SNPs than people and the n x n
    one otherwise (module docstring); True or False forces one (they agree to float precision).
    Either way ``lam`` holds K's nonzero eigenvalues; the dual route keeps K's eigenvectors
    ``q`` (n, r), the primal route Z'Z's ``v`` (p, r)."""

    def __init__(self, z, primal: bool | None = None) -> None:
        self.z = z if isinstance(z, StandardizedSNPs) else np.asarray(z, dtype=np.float64)
        n, p = self.z.shape
        self.n, self.p = n, p
        self.primal = n > p if primal is None else bool(primal)
        # divide and conquer (LAPACK syevd): every eigenpair, 15% sooner than the default
        # syevr (measured at n = 3,000); at 10,000 people this is the fit's largest step
        gram = self._snp_gram() if self.primal else self._gram()
        lam, vectors = eigh(gram, overwrite_a=True, check_finite=False, driver="evd")
        # eigh sorts the eigenvalues up, so the ones dropped come first and a slice keeps the
        # rest (a view: no copy of the eigenvectors)
        first = int(len(lam) - (lam > _NULL * max(lam.max(), 1e-300)).sum())
        self.lam = lam[first:]
        self.q = None if self.primal else vectors[:, first:]
        self.v = vectors[:, first:] if self.primal else None

    def _gram(self) -> np.ndarray:
        """K (n, n) summed over blocks of SNPs in place (BLAS syrk: its lower triangle, which
        eigh reads), so that neither Z nor a second n x n matrix is built."""
        # block.T is (b, n) in Fortran order, so no copy; trans=1 gives block @ block.T
        return self._summed(self.n, ((block.T, 1) for _, _, block in _blocks_of(self.z, _GRAM_DTYPE)))

    def _snp_gram(self) -> np.ndarray:
        """Z'Z / p (p, p) summed over blocks of people in place, as :meth:`_gram` sums K."""
        # block is (b, p) in C order, so block.T is (p, b) in Fortran order; trans=0 gives block.T @ block
        return self._summed(self.p, ((block.T, 0) for _, _, block in _row_blocks_of(self.z, _GRAM_DTYPE)))

    def _summed(self, size: int, terms) -> np.ndarray:
        """The sum of a a' (trans 0) or a' a (trans 1) over ``terms`` of (a, trans), by syrk
        into one (size, size) matrix (lower triangle), widened to float64 and divided by p."""
        k = np.zeros((size, size), dtype=_GRAM_DTYPE, order="F")
        syrk = blas.dsyrk if _GRAM_DTYPE == np.float64 else blas.ssyrk
        for a, trans in terms:
            k = syrk(1.0, a, beta=1.0, c=k, trans=trans, lower=1, overwrite_c=1)
        k = k.astype(np.float64, copy=False)
        k /= self.p
        return k

    def _z_transpose_times(self, a: np.ndarray) -> np.ndarray:
        """Z' a (p, d) for a (n, d), block of SNPs by block."""
        if not isinstance(self.z, StandardizedSNPs):
            return self.z.T @ a
        out = np.empty((self.p, a.shape[1]))
        for j0, j1, block in _blocks_of(self.z):
            out[j0:j1] = block.T @ a
        return out

    def _z_times(self, b: np.ndarray) -> np.ndarray:
        """Z b (n, d) for b (p, d), block of SNPs by block."""
        if not isinstance(self.z, StandardizedSNPs):
            return self.z @ b
        out = np.zeros((self.n, b.shape[1]))
        for j0, j1, block in _blocks_of(self.z):
            out += block @ b[j0:j1]
        return out

    def snp_effects(self, alpha: np.ndarray) -> np.ndarray:
        """Z' alpha / p (p, d) for alpha (n, d), block of SNPs by block."""
        out = self._z_transpose_times(alpha)
        out /= self.p
        return out

    def project(self, y: np.ndarray) -> np.ndarray:
        """q'y (r, d): y on K's eigenvectors. Primal: diag(1 / sqrt(lam p)) v' Z'y, one pass."""
        if not self.primal:
            return self.q.T @ y
        return (self.v.T @ self._z_transpose_times(y)) / np.sqrt(self.lam * self.p)[:, None]

    def blup(
        self, proj: np.ndarray, h2: np.ndarray, e: np.ndarray, snp_effects: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The BLUP's fitted values K (K + delta I)^-1 y = q (proj h2 lam / e) (n, d), and its
        SNP effects Z' q (proj h2 / e) / p (p, d; None unless ``snp_effects``). Dual: the SNP
        effects take a pass over Z. Primal: they are v diag(sqrt(lam p) / p) (proj h2 / e), as
        Z'Z v = v lam p, with no pass, and the fitted values are Z times them (one pass)."""
        if not self.primal:
            alpha = self.q @ (proj * h2 / e)
            fitted = self.q @ (proj * h2 * self.lam[:, None] / e)
            return fitted, (self.snp_effects(alpha) if snp_effects else None)
        coef = self.v @ (proj * h2 / e * (np.sqrt(self.lam * self.p) / self.p)[:, None])
        return self._z_times(coef), (coef if snp_effects else None)


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
    one pass over Z on the dual route and none on the primal one (which takes one pass for y's
    projection and one for the fitted values instead); ``snp_effects=False`` skips them
    (backfitting needs only ``fitted``)."""
    y = np.asarray(y, dtype=np.float64)
    n, d = y.shape
    proj = kernel.project(y)  # (r, d)
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
    fitted, coef = kernel.blup(proj, h2, e, snp_effects)
    genetic = h2 * total
    reliability = np.zeros(d)
    for c in np.flatnonzero((h2 > 0) & (genetic > 0)):
        reliability[c] = min(float(fitted[:, c].var() / genetic[c]), 1.0)
    return Background(coef, h2, genetic, (1 - h2) * total, reliability, fitted)
