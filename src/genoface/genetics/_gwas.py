"""Genome-wide association: per-SNP linear regression of many phenotypes at once, a joint
multivariate test per SNP, and SNP selection from the results.

Model, per SNP j and phenotype column y: ``y = a + C b + beta_j x_j + e`` over the samples with
an observed call at j (as ``plink2 --glm`` does: a sample with a missing call is dropped for
that SNP only). Phenotypes and covariates must be complete (no NaN).

Algorithm (Frisch–Waugh–Lovell, exact under per-SNP missingness). ``Q`` is an orthonormal
basis of ``[1, C]`` (q = c + 1 columns). Phenotypes are residualized on ``Q`` once, over all
samples; SNP dosages are mean-centred and residualized on ``Q`` per block, then set to 0 at
missing calls. Shifting y or x by anything in the span of ``[1, C]`` does not change the
regression on any subset of samples, so only the covariate projection needs correcting for the
samples S_j with a call: with ``M_j`` the samples lacking one,

    Q_S'Q_S = I - Q_M'Q_M,   Q_S'y_S = -Q_M'y_M,   y_S'y_S = y'y - y_M'y_M,

three sums over the few missing samples, computed for a whole block of SNPs as sparse matrix
products with the missingness mask. Then per SNP (q x q solves, batched):

    x'Py = x'y - (Q_S'x)'(Q_S'Q_S)^-1 Q_S'y,   and likewise x'Px, y'Py,
    beta = x'Py / x'Px,   se = sqrt((y'Py - beta x'Py) / (n_j - q - 1) / x'Px).

SNPs called in every sample need none of this: with ``y`` residualized once, x'Py = g'y on the
raw dosages and x'Px = g'g - |Q'g|², so a block of such SNPs costs one pass to convert it to float
and one matrix product with ``[y, Q, 1]`` for all phenotypes (the ones give the allele counts);
y'Py is the same for every SNP. A block's SNPs with missing calls take the exact path above, the
others this one; both give the same statistics to rounding.

The one large product, ``X'Y`` (SNPs x phenotypes), is a BLAS matrix product per block of SNPs;
the result equals plink2's to its printed precision (``plink2 --glm omit-ref hide-covar``, which
reports the ALT allele's effect), SNPs with missing calls included. On chromosome X genoface uses
the dosages as given (men 0/2) and adds no covariate of its own, whereas plink2 by default adds
sex there and applies its own chrX model: give sex as a covariate and compare with plink2's
``no-x-sex`` or on autosomes.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from genoface.core.errors import GenofaceError
from genoface.genetics.engine import map_variant_blocks

log = logging.getLogger(__name__)

#: SNPs per block: the float64 block (n x chunk) plus a few of its size stay in memory.
DEFAULT_CHUNK = None  # None: chosen from n (about 256 MB of float64 dosages per block)
#: A SNP whose residualized dosage has sum of squares below this fraction of n is treated as
#: constant (monomorphic, or collinear with the covariates): its statistics are NaN.
_CONSTANT_TOL = 1e-8


@dataclass
class GwasResult:
    """Per-SNP, per-phenotype linear regression results.

    Attributes
    ----------
    beta, se, t, p : (m, k) float64; effect of one ALT allele, its standard error, t statistic
        and two-sided p-value (t distribution, ``n_obs - c - 2`` degrees of freedom). NaN where
        the SNP is constant among the samples it was tested on.
    n_obs : (m,) int64, samples with a call at the SNP.
    alt_freq : (m,) float64, ALT allele frequency among those samples.
    """

    beta: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    n_obs: np.ndarray
    alt_freq: np.ndarray

    def to_frame(self, variant_ids, phenotype_names) -> pd.DataFrame:
        """Long table: one row per SNP x phenotype (SNP-major), columns
        id, phenotype, beta, se, t, p, n_obs, alt_freq."""
        m, k = self.beta.shape
        variant_ids = np.asarray(variant_ids, dtype=str)
        phenotype_names = np.asarray(phenotype_names, dtype=str)
        if variant_ids.shape != (m,) or phenotype_names.shape != (k,):
            raise GenofaceError(
                f"to_frame needs {m} variant ids and {k} phenotype names, "
                f"got {variant_ids.size} and {phenotype_names.size}"
            )
        return pd.DataFrame(
            {
                "id": np.repeat(variant_ids, k),
                "phenotype": np.tile(phenotype_names, m),
                "beta": self.beta.ravel(),
                "se": self.se.ravel(),
                "t": self.t.ravel(),
                "p": self.p.ravel(),
                "n_obs": np.repeat(self.n_obs, k),
                "alt_freq": np.repeat(self.alt_freq, k),
            }
        )


@dataclass
class MultivariateGwasResult:
    """Per-SNP joint test of all k phenotypes (canonical correlation with one SNP).

    Attributes
    ----------
    r2 : (m,) squared canonical correlation: R² of the SNP on the phenotypes, both residualized
        on the covariates.
    f : (m,) F statistic with (k, n_obs - c - 1 - k) degrees of freedom.
    p : (m,) its p-value (exact: Wilks' lambda, Pillai's trace and Hotelling's T² coincide for
        one SNP predictor).
    n_obs, alt_freq : as in :class:`GwasResult`.
    """

    r2: np.ndarray
    f: np.ndarray
    p: np.ndarray
    n_obs: np.ndarray
    alt_freq: np.ndarray

    def to_frame(self, variant_ids) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": np.asarray(variant_ids, dtype=str),
                "r2": self.r2,
                "f": self.f,
                "p": self.p,
                "n_obs": self.n_obs,
                "alt_freq": self.alt_freq,
            }
        )


# ---- input checks -----------------------------------------------------------------------------------


def _prepare(genotypes, phenotypes, covariates, chunk: int):
    if not hasattr(genotypes, "shape") or len(genotypes.shape) != 2:
        raise GenofaceError("genotypes must be a 2-D (samples x variants) array of ALT dosages")
    n, _ = genotypes.shape
    y = np.asarray(phenotypes, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise GenofaceError(f"phenotypes have shape {np.shape(phenotypes)}; expected ({n}, k), one row per sample")
    if not np.isfinite(y).all():
        bad = int((~np.isfinite(y)).any(axis=1).sum())
        raise GenofaceError(f"phenotypes have NaN/inf values in {bad} samples; drop those samples or impute first")
    if covariates is None:
        c = np.empty((n, 0))
    else:
        c = np.asarray(covariates, dtype=np.float64)
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2 or c.shape[0] != n:
            raise GenofaceError(f"covariates have shape {np.shape(covariates)}; expected ({n}, c), one row per sample")
        if not np.isfinite(c).all():
            bad = int((~np.isfinite(c)).any(axis=1).sum())
            raise GenofaceError(f"covariates have NaN/inf values in {bad} samples; drop those samples or impute first")
    if chunk is not None and (not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise GenofaceError(f"chunk must be a positive integer, got {chunk!r}")
    z = np.column_stack([np.ones(n), c])
    q, r = np.linalg.qr(z)
    d = np.abs(np.diag(r))
    if d.min() <= 1e-10 * d.max():
        raise GenofaceError(
            "the covariates are collinear (with each other or with the intercept); drop the redundant or constant columns"
        )
    assert q.shape == (n, z.shape[1])
    return y, q


def _snp_block(g: np.ndarray, q: np.ndarray):
    """Centred, covariate-residualized dosages (0 at missing calls), mask and frequencies."""
    miss = g < 0
    x = g.astype(np.float64)
    x[miss] = 0.0
    n_obs = g.shape[0] - miss.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=0) / n_obs
    x -= mean
    x -= q @ (q.T @ x)
    x[miss] = 0.0
    mask = sp.csc_matrix(miss, dtype=np.float64)  # samples x SNPs; ~1% filled
    return x, mask, n_obs.astype(np.int64), mean / 2.0


def _subset_projection(x, mask, q, y):
    """Per SNP of the block: Q_S'Q_S (b, q, q), Q_S'x (b, q), Q_S'y (b, q, k), and the
    transposed mask (SNPs x samples, sparse). The sums over missing samples are sparse products
    taken one covariate column at a time, so no (n, q * k) temporary is built."""
    b = x.shape[1]
    nq, k = q.shape[1], y.shape[1]
    mt = mask.T.tocsr()
    a = np.broadcast_to(np.eye(nq), (b, nq, nq)).copy()
    qy = np.zeros((b, nq, k))
    if mt.nnz:
        for c in range(nq):
            a[:, c, :] -= mt @ (q[:, c : c + 1] * q)
            qy[:, c, :] = -(mt @ (q[:, c : c + 1] * y))
    qx = x.T @ q  # (b, q): x is 0 at missing calls, so this is Q_S'x_S
    return a, qx, qy, mt


def _solve(a: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched solve; where some system is singular (e.g. the samples left at a SNP make the
    covariates collinear) the pseudo-inverse gives the same projection for the whole block."""
    try:
        return np.linalg.solve(a, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a) @ rhs


def _auto_chunk(n: int, chunk: int | None) -> int:
    """SNPs per block: about 256 MB of float64 dosages unless the caller chose."""
    if chunk is None:
        return int(min(4096, max(64, 2**28 // (8 * max(n, 1)))))
    return chunk


# ---- blocks with and without missing calls -------------------------------------------------------


def _by_missingness(g: np.ndarray, complete, exact) -> tuple:
    """Per-SNP outputs of a block: ``complete(g)`` for the SNPs with a call in every sample (one
    matrix product, no per-SNP correction), ``exact(g)`` for the others; each returns a tuple of
    arrays indexed by SNP first, put back in the block's SNP order."""
    has_miss = (g < 0).any(axis=0)
    if not has_miss.any():
        return complete(g)
    if has_miss.all():
        return exact(g)
    ok = ~has_miss
    merged = []
    for a, b in zip(complete(g[:, ok]), exact(g[:, has_miss]), strict=True):
        out = np.empty((g.shape[1],) + a.shape[1:], dtype=a.dtype)
        out[ok] = a
        out[has_miss] = b
        merged.append(out)
    return tuple(merged)


def _complete_block(g: np.ndarray, w: np.ndarray, k: int):
    """x'Py (b, k), x'Px (b,), n_obs and ALT frequency of SNPs called in every sample.

    ``w`` is ``[y, Q, 1]`` with ``y`` already residualized on ``Q``, so x'Py = g'y with the raw
    dosages (centring and the covariates drop out) and x'Px = g'g - |Q'g|²: one product of the
    block with ``w`` and one pass for the sums of squares."""
    n = g.shape[0]
    x = g.astype(np.float64)
    prod = x.T @ w  # (b, k + q + 1)
    qx = prod[:, k:-1]
    xpx = np.einsum("ij,ij->j", x, x) - np.einsum("bq,bq->b", qx, qx)
    return prod[:, :k], xpx, np.full(g.shape[1], n, dtype=np.int64), prod[:, -1] / (2.0 * n)


def _exact_block(g: np.ndarray, q: np.ndarray, y: np.ndarray):
    """x'Py, x'Px, the per-SNP Q_S'Y_S (b, q, k) and the solved projections (b, q, 1 + k),
    n_obs, ALT frequency and the transposed mask, over the samples with a call at each SNP."""
    x, mask, nb, fb = _snp_block(g, q)
    a, qx, qy, mt = _subset_projection(x, mask, q, y)
    sol = _solve(a, np.concatenate([qx[:, :, None], qy], axis=2))  # (b, q, 1 + k)
    xpy = x.T @ y - np.einsum("bq,bqk->bk", qx, sol[:, :, 1:])
    xpx = np.einsum("ij,ij->j", x, x) - np.einsum("bq,bq->b", qx, sol[:, :, 0])
    return xpy, xpx, qy, sol, nb, fb, mt


def _regression(xpy, xpx, ypy, nb, nq):
    """beta and se per SNP and phenotype from the projected cross-products; NaN where the SNP
    is constant (or collinear with the covariates) among its samples."""
    df = (nb - nq - 1).astype(np.float64)
    const = (xpx <= _CONSTANT_TOL * np.maximum(nb, 1)) | (df < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        bt = xpy / xpx[:, None]
        rss = np.maximum(ypy - bt * xpy, 0.0)
        s = np.sqrt(rss / df[:, None] / xpx[:, None])
    bt[const] = np.nan
    s[const] = np.nan
    return bt, s


# ---- univariate ---------------------------------------------------------------------------------


def gwas(genotypes, phenotypes, covariates=None, *, chunk: int | None = DEFAULT_CHUNK) -> GwasResult:
    """Regress every phenotype column on each SNP's ALT dosage, an intercept and covariates.

    Parameters
    ----------
    genotypes : (n, m) int8 ALT dosages 0/1/2, -1 missing; any array that can be sliced by
        column blocks (NumPy, memory map, a lazy cohort's store, Dask); each block is a Dask task
        (:func:`~genoface.genetics.engine.map_variant_blocks`).
    phenotypes : (n, k) or (n,) float, complete (e.g. face shape-PCA scores).
    covariates : (n, c) float or None, complete; an intercept is always added.
    chunk : SNPs per block (None: about 256 MB of float64 dosages); memory is a few
        (n x chunk) float64 arrays plus the (m, k) results.

    Returns a :class:`GwasResult`. Samples with a missing call are left out of that SNP's
    regression only, exactly as ``plink2 --glm`` does; the statistics equal plink2's. SNPs
    called in everyone take a faster path (one matrix product per block for all phenotypes)
    with the same results.
    """
    y, q = _prepare(genotypes, phenotypes, covariates, chunk)
    chunk = _auto_chunk(genotypes.shape[0], chunk)
    k = y.shape[1]
    nq = q.shape[1]
    y = y - q @ (q.T @ y)
    yy_full = np.einsum("ik,ik->k", y, y)
    y2 = y * y
    w = np.column_stack([y, q, np.ones(len(y))])

    def complete(g):
        xpy, xpx, nb, fb = _complete_block(g, w, k)
        return (*_regression(xpy, xpx, yy_full[None, :], nb, nq), nb, fb)

    def exact(g):
        xpy, xpx, qy, sol, nb, fb, mt = _exact_block(g, q, y)
        ypy = yy_full[None, :] - mt @ y2 - np.einsum("bqk,bqk->bk", qy, sol[:, :, 1:])
        return (*_regression(xpy, xpx, ypy, nb, nq), nb, fb)

    blocks = map_variant_blocks(lambda j0, j1, g: _by_missingness(g, complete, exact), genotypes, chunk)
    beta, se, n_obs, freq = (np.concatenate([b[i] for b in blocks]) for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = beta / se
    df_all = np.broadcast_to((n_obs - nq - 1).astype(np.float64)[:, None], t.shape)
    p = 2.0 * special.stdtr(df_all, -np.abs(t))
    return GwasResult(beta=beta, se=se, t=t, p=p, n_obs=n_obs, alt_freq=freq)


# ---- multivariate -------------------------------------------------------------------------------


def multivariate_gwas(genotypes, phenotypes, covariates=None, *, chunk: int = 256) -> MultivariateGwasResult:
    """Joint test of all k phenotypes per SNP: the canonical correlation of the SNP with the
    phenotypes after both are residualized on an intercept and the covariates.

    With one SNP the multivariate tests are exact and equal:
    ``F = (n_obs - c - 1 - k) / k * R² / (1 - R²)`` on (k, n_obs - c - 1 - k) degrees of freedom,
    R² from regressing the SNP dosage on the residualized phenotypes (as in the facial GWAS of
    Claes et al. 2018). Missing calls are handled exactly as in :func:`gwas` (per-SNP sample
    sets; the k x k phenotype cross-product is corrected by the missing samples' rows); SNPs
    called in everyone share one k x k cross-product and take the faster path.
    """
    y, q = _prepare(genotypes, phenotypes, covariates, chunk)
    k = y.shape[1]
    nq = q.shape[1]
    y = y - q @ (q.T @ y)
    yy_full = y.T @ y
    w = np.column_stack([y, q, np.ones(len(y))])

    def complete(g):
        xpy, xpx, nb, fb = _complete_block(g, w, k)
        u = _solve(yy_full, xpy.T).T  # the same Y'PY for every SNP of the block
        return _r2(xpy, u, xpx, nb, nq, k), nb, fb

    def exact(g):
        xpy, xpx, qy, sol, nb, fb, mt = _exact_block(g, q, y)
        ym = np.zeros((g.shape[1], k, k))  # Y_M'Y_M per SNP, one phenotype column at a time
        if mt.nnz:
            for h in range(k):
                ym[:, h, :] = mt @ (y[:, h : h + 1] * y)
        # Y_S'P_S Y_S = Y'Y - Y_M'Y_M - (Q_S'Y_S)'(Q_S'Q_S)^-1 (Q_S'Y_S)
        ypy = yy_full[None] - ym - np.einsum("bqk,bql->bkl", qy, sol[:, :, 1:])
        u = _solve(ypy, xpy[:, :, None])[:, :, 0]
        return _r2(xpy, u, xpx, nb, nq, k), nb, fb

    blocks = map_variant_blocks(lambda j0, j1, g: _by_missingness(g, complete, exact), genotypes, chunk)
    r2, n_obs, freq = (np.concatenate([b[i] for b in blocks]) for i in range(3))
    df2 = (n_obs - nq - k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = df2 / k * r2 / (1.0 - r2)
    p = special.fdtrc(k, df2, np.where(np.isfinite(f), np.maximum(f, 0.0), np.nan))
    return MultivariateGwasResult(r2=r2, f=f, p=p, n_obs=n_obs, alt_freq=freq)


def _r2(xpy, u, xpx, nb, nq, k):
    """Squared canonical correlation x'PY (Y'PY)^-1 Y'Px / x'Px; NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rb = np.einsum("bk,bk->b", xpy, u) / xpx
    rb[(xpx <= _CONSTANT_TOL * np.maximum(nb, 1)) | (nb - nq - k < 1)] = np.nan
    return rb


# ---- SNP selection ---------------------------------------------------------------------------------


def select_snps(
    result: GwasResult | MultivariateGwasResult | np.ndarray,
    *,
    n_snps: int | None = None,
    p_threshold: float | None = None,
    variants: pd.DataFrame | None = None,
    window_bp: int | None = None,
) -> np.ndarray:
    """Indices of SNPs chosen by smallest p-value, best first.

    Must be called on a GWAS of the TRAINING people only: selecting SNPs on people who are
    later used for evaluation leaks their faces into the model and inflates every metric.

    Parameters
    ----------
    result : a :class:`MultivariateGwasResult` (its joint p), a :class:`GwasResult` (the
        smallest p over phenotypes per SNP) or an (m,) array of p-values. NaN p never selected.
    n_snps : keep at most this many.
    p_threshold : keep only SNPs with p below it.
    variants : the variant table (chrom, pos) of the m SNPs; needed with ``window_bp``.
    window_bp : LD clumping by distance: a SNP is kept only if no better SNP already kept lies
        on its chromosome within ±window_bp base pairs.
    """
    p = _snp_p_values(result)
    _check_selection(len(p), n_snps, p_threshold, variants, window_bp)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    order = order[~np.isnan(p[order])]
    if p_threshold is not None:
        order = order[p[order] < p_threshold]
    if window_bp is None:
        return order[:n_snps] if n_snps is not None else order
    return _clump(order, variants, window_bp, n_snps)


def _snp_p_values(result: GwasResult | MultivariateGwasResult | np.ndarray) -> np.ndarray:
    """(m,) p-value per SNP: the joint p, the smallest over phenotypes (NaN where all are), or
    the array given."""
    if isinstance(result, GwasResult):
        with np.errstate(all="ignore"):
            return np.where(
                np.isnan(result.p).all(axis=1),
                np.nan,
                np.nanmin(np.where(np.isnan(result.p), np.inf, result.p), axis=1),
            )
    if isinstance(result, MultivariateGwasResult):
        return np.asarray(result.p, dtype=np.float64)
    p = np.asarray(result, dtype=np.float64)
    if p.ndim != 1:
        raise GenofaceError(f"p-values must be a 1-D array (one per SNP), got shape {p.shape}")
    return p


def _check_selection(
    m: int, n_snps: int | None, p_threshold: float | None, variants: pd.DataFrame | None, window_bp: int | None
) -> None:
    """Refuse arguments of :func:`select_snps` that do not fit ``m`` SNPs."""
    if n_snps is not None and (not isinstance(n_snps, (int, np.integer)) or n_snps < 0):
        raise GenofaceError(f"n_snps must be a non-negative integer, got {n_snps!r}")
    if p_threshold is not None and not 0 < p_threshold <= 1:
        raise GenofaceError(f"p_threshold must lie in (0, 1], got {p_threshold!r}")
    if window_bp is not None:
        if window_bp < 0:
            raise GenofaceError(f"window_bp must be non-negative, got {window_bp!r}")
        if variants is None:
            raise GenofaceError("window_bp needs variants (a table with chrom and pos) for clumping")
        if len(variants) != m:
            raise GenofaceError(f"variants has {len(variants)} rows but there are {m} SNPs")


def _clump(order: np.ndarray, variants: pd.DataFrame, window_bp: int, n_snps: int | None) -> np.ndarray:
    """The SNPs of ``order`` (best first) with no better one kept on their chromosome within
    ±window_bp, at most ``n_snps``."""
    chrom = np.asarray(variants["chrom"], dtype=str)
    pos = np.asarray(variants["pos"], dtype=np.int64)
    kept: list[int] = []
    taken: dict[str, list[int]] = {}  # sorted positions kept, per chromosome
    for j in order:
        if n_snps is not None and len(kept) >= n_snps:
            break
        near = taken.setdefault(chrom[j], [])
        i = bisect.bisect_left(near, pos[j] - window_bp)
        if i < len(near) and near[i] <= pos[j] + window_bp:
            continue
        near.insert(i, int(pos[j]))
        kept.append(int(j))
    return np.asarray(kept, dtype=np.int64)
