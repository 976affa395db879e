"""Ancestry principal components: LD pruning and randomized PCA of standardized genotypes.

Genotypes are (samples, variants) int8 ALT dosages, -1 missing, read ``chunk`` columns at a time
(DESIGN "Scale"). The standardized matrix of the pruned SNPs (n x k float32) is held whole up to
``IN_MEMORY_PCA`` bytes; above that, each product of the randomized SVD is a pass over the
genotypes (:func:`randomized_svd_by_blocks`), so a biobank's PCA needs O(n x (components + 10))
memory.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.linalg import randomized_svd_by_products
from genoface.core.schema import non_autosomal
from genoface.genetics._qc import (
    DEFAULT_CHUNK,
    ColumnView,
    check_chunk,
    iter_blocks,
    matrix_shape,
    standardize,
    variant_stats,
)
from genoface.genetics.engine import block_width, map_variant_blocks, sum_variant_blocks

log = logging.getLogger(__name__)

#: Largest standardized matrix (bytes, float32) the PCA holds whole; above it each product of the
#: randomized SVD is a pass over the genotypes (:func:`randomized_svd_by_blocks`).
IN_MEMORY_PCA = 1 << 30


def randomized_svd_by_blocks(
    genotypes: Any,
    columns: np.ndarray,
    alt_freq: np.ndarray,
    n_components: int,
    *,
    n_iter: int = 7,
    n_oversamples: int = 10,
    seed: int = 0,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(U, s, Vt, sum of squares) of the standardized genotypes Z at ``columns`` (ALT frequencies
    ``alt_freq``) without holding Z: Halko et al.'s randomized SVD with ``n_iter`` power
    iterations (sklearn's algorithm, :func:`~genoface.core.linalg.randomized_svd_by_products`),
    each product with Z or Z' one pass over the genotypes as Dask tasks
    (:func:`~genoface.genetics.engine.map_variant_blocks`)."""
    n = matrix_shape(genotypes)[0]
    total = []

    def z_times(b: np.ndarray) -> np.ndarray:
        def block(j0: int, j1: int, g: np.ndarray):
            z = standardize(g, alt_freq[j0:j1]).astype(np.float64)
            return z @ b[j0:j1], (float(np.einsum("ij,ij->", z, z)) if not total else 0.0)

        product, squares = sum_variant_blocks(block, genotypes, chunk, columns=columns)
        total.append(squares)  # the sum of squares, from the first pass
        return product

    def zt_times(a: np.ndarray) -> np.ndarray:
        parts = map_variant_blocks(
            lambda j0, j1, g: standardize(g, alt_freq[j0:j1]).astype(np.float64).T @ a, genotypes, chunk, columns
        )
        return np.concatenate(parts, axis=0)

    u, s, vt = randomized_svd_by_products(
        z_times, zt_times, (n, len(columns)), n_components, n_iter=n_iter, n_oversamples=n_oversamples, seed=seed
    )
    return u, s, vt, total[0]


def _alt_freq(genotypes: Any, chunk: int) -> np.ndarray:
    return variant_stats(genotypes, chunk=chunk, hwe=False)["alt_freq"].to_numpy()


def _prune_window(z: np.ndarray, norms: np.ndarray, maf: np.ndarray, keep: np.ndarray, r2: float) -> None:
    """Greedy pruning inside one window (columns of ``z``), updating ``keep`` in place.

    For each pair of kept variants with r² above ``r2``, the one with the lower MAF goes (the
    later one on ties), as plink's --indep-pairwise does.
    """
    idx = np.flatnonzero(keep)
    if len(idx) < 2:
        return
    # The whole window's cross-products, then the kept variants' rows and columns: gathering
    # their columns out of the row-major block first costs several times the product itself.
    c = (z.T @ z)[np.ix_(idx, idx)]
    denom = np.outer(norms[idx], norms[idx])
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = np.where(denom > 0, c * c / denom, 0.0)
    alive = np.ones(len(idx), dtype=bool)
    for a in range(len(idx)):
        if not alive[a]:
            continue
        hits = np.flatnonzero(alive & (rr[a] > r2))
        hits = hits[hits > a]
        for b in hits:
            if not alive[b]:
                continue
            if maf[idx[a]] < maf[idx[b]]:
                alive[a] = False
                break
            alive[b] = False
    keep[idx[~alive]] = False


def ld_prune(
    genotypes: Any,
    variants: pd.DataFrame,
    *,
    window: int = 50,
    step: int = 5,
    r2: float = 0.2,
    alt_freq: np.ndarray | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Variants left after windowed pairwise r² pruning within each chromosome: (m,) bool.

    Like ``plink --indep-pairwise window step r2`` with windows counted in variants: in each
    window of ``window`` consecutive variants of a chromosome, of every pair with r² > ``r2``
    the lower-MAF variant is removed; the window then moves on by ``step`` variants. r² is that
    of the standardized dosages with missing calls set to the mean. Monomorphic variants are
    removed. Variants must be sorted by position within each chromosome.
    """
    n, m = matrix_shape(genotypes)
    chunk = check_chunk(chunk)
    if len(variants) != m:
        raise GenofaceError(f"variants has {len(variants)} rows but genotypes have {m} columns")
    if window < 2 or step < 1 or step > window:
        raise GenofaceError(f"need window >= 2 and 1 <= step <= window, got window={window}, step={step}")
    if not 0.0 <= r2 <= 1.0:
        raise GenofaceError(f"r2 must be in [0, 1], got {r2}")
    p = _alt_freq(genotypes, chunk) if alt_freq is None else np.asarray(alt_freq, dtype=np.float64)
    if p.shape != (m,):
        raise GenofaceError(f"alt_freq has shape {p.shape}, expected ({m},)")
    maf = np.minimum(p, 1 - p)
    keep = np.nan_to_num(maf) > 0
    chrom = np.asarray(variants["chrom"]).astype(str)
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    ends = np.r_[starts[1:], m]
    if len(set(chrom[starts])) != len(starts):
        raise GenofaceError("variants of a chromosome are not contiguous; sort them by chromosome and position")
    # Blocks narrow as n grows (at most CALLS_PER_BLOCK calls): `chunk` columns of 100,000 people
    # held 4.9 GB of standardized dosages at once. The windows, and so the result, do not change.
    span = max(block_width(n, chunk), window)
    for c0, c1 in zip(starts, ends, strict=True):
        # Blocks of `span` window starts, each read with the `window - 1` columns that follow.
        for s0 in range(c0, c1, span):
            s1 = min(s0 + span, c1)
            b1 = min(s1 + window - 1, c1)
            z = standardize(np.asarray(genotypes[:, s0:b1], dtype=np.int8), p[s0:b1])
            norms = np.einsum("ij,ij->j", z, z, dtype=np.float64)
            for w0 in range(s0, s1, step):
                w1 = min(w0 + window, c1)
                sub = keep[w0:w1]  # a view: pruning writes through
                _prune_window(z[:, w0 - s0 : w1 - s0], norms[w0 - s0 : w1 - s0], maf[w0:w1], sub, r2)
                if w1 == c1:
                    break
    log.info("LD pruning kept %d of %d variants", keep.sum(), m)
    return keep


class AncestryPCA:
    """Ancestry principal components of standardized, LD-pruned autosomal SNPs.

    Parameters
    ----------
    n_components : number of components kept.
    min_maf, min_call_rate : SNP filters applied before pruning.
    ld_window, ld_step, ld_r2 : :func:`ld_prune` settings.
    n_iter : power iterations of the randomized SVD.
    random_state : seed of the randomized SVD.
    chunk : columns read per block.

    Attributes (after :meth:`fit`)
    ----------
    snps_ : (k,) str ids of the SNPs used; alt_freq_ : (k,) their ALT frequencies.
    components_ : (n_components, k) float64 SNP loadings (unit rows).
    singular_values_, explained_variance_, explained_variance_ratio_ : (n_components,).
    Scores are the standardized genotypes times ``components_.T``.
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        min_maf: float = 0.01,
        min_call_rate: float = 0.95,
        ld_window: int = 50,
        ld_step: int = 5,
        ld_r2: float = 0.2,
        n_iter: int = 7,
        random_state: int = 0,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self.n_components = n_components
        self.min_maf = min_maf
        self.min_call_rate = min_call_rate
        self.ld_window = ld_window
        self.ld_step = ld_step
        self.ld_r2 = ld_r2
        self.n_iter = n_iter
        self.random_state = random_state
        self.chunk = chunk

    def fit(self, genotypes: Any, variants: pd.DataFrame | None = None) -> AncestryPCA:
        """Learn SNPs, allele frequencies and components; ``variants`` (chrom, id, ...) selects
        autosomes and names SNPs (without it every column is an autosomal SNP named by index)."""
        self._fit(genotypes, variants)
        return self

    def fit_transform(self, genotypes: Any, variants: pd.DataFrame | None = None) -> np.ndarray:
        """Fit and return the (n, n_components) scores of the training samples."""
        return self._fit(genotypes, variants)

    def _fit(self, genotypes: Any, variants: pd.DataFrame | None) -> np.ndarray:
        from sklearn.utils.extmath import randomized_svd

        n, m = matrix_shape(genotypes)
        if int(self.n_components) < 1:
            raise GenofaceError(f"n_components must be >= 1, got {self.n_components}")
        if variants is None:
            variants = pd.DataFrame({"chrom": np.full(m, "1"), "id": np.arange(m).astype(str)})
        if len(variants) != m:
            raise GenofaceError(f"variants has {len(variants)} rows but genotypes have {m} columns")
        auto = ~non_autosomal(variants["chrom"])
        cols = np.flatnonzero(auto)
        stats = variant_stats(ColumnView(genotypes, cols), chunk=self.chunk, hwe=False)
        ok = (stats["maf"].to_numpy() >= self.min_maf) & (stats["call_rate"].to_numpy() >= self.min_call_rate)
        cols, p = cols[ok], stats["alt_freq"].to_numpy()[ok]
        sub_variants = variants.iloc[cols].reset_index(drop=True)
        pruned = ld_prune(
            ColumnView(genotypes, cols),
            sub_variants,
            window=self.ld_window,
            step=self.ld_step,
            r2=self.ld_r2,
            alt_freq=p,
            chunk=self.chunk,
        )
        cols, p = cols[pruned], p[pruned]
        k = len(cols)
        if k <= self.n_components or n <= self.n_components:
            raise GenofaceError(
                f"ancestry PCA of {self.n_components} components needs more samples and SNPs than that; "
                f"got {n} samples and {k} SNPs after MAF >= {self.min_maf}, call rate and LD pruning"
            )
        if n * k * 4 <= IN_MEMORY_PCA:
            z = np.empty((n, k), dtype=np.float32)
            for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=cols):
                z[:, j0:j1] = standardize(g, p[j0:j1])
            u, s, vt = randomized_svd(z, int(self.n_components), n_iter=self.n_iter, random_state=self.random_state)
            total = float(np.einsum("ij,ij->", z, z, dtype=np.float64))
        else:  # the standardized matrix would not fit: a pass over the genotypes per product
            u, s, vt, total = randomized_svd_by_blocks(
                genotypes, cols, p, int(self.n_components), n_iter=self.n_iter, seed=self.random_state, chunk=self.chunk
            )
        assert vt.shape == (self.n_components, k), vt.shape
        # Sign convention: the largest loading of each component is positive (deterministic).
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
        signs[signs == 0] = 1
        u, vt = u * signs, vt * signs[:, None]
        self.snps_ = np.asarray(variants["id"]).astype(str)[cols]
        self.alt_freq_ = p.astype(np.float64)
        self.components_ = vt.astype(np.float64)
        self.singular_values_ = s.astype(np.float64)
        self.explained_variance_ = s.astype(np.float64) ** 2 / max(n - 1, 1)
        self.explained_variance_ratio_ = s.astype(np.float64) ** 2 / total
        self.n_samples_ = n
        log.info("ancestry PCA on %d samples x %d SNPs: explained %s", n, k, self.explained_variance_ratio_)
        return (u * s).astype(np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise GenofaceError("this AncestryPCA is not fitted yet; call fit(genotypes, variants) first")

    def transform(self, genotypes: Any, variant_ids: Any) -> np.ndarray:
        """(n, n_components) scores of new samples, matching SNPs by id; a SNP absent from
        ``variant_ids`` or a missing call counts as the training mean."""
        self._check_fitted()
        n, m = matrix_shape(genotypes)
        ids = pd.Index(np.asarray(variant_ids).astype(str))
        if len(ids) != m:
            raise GenofaceError(f"variant_ids has {len(ids)} entries but genotypes have {m} columns")
        if ids.has_duplicates:
            raise GenofaceError(f"variant_ids has duplicates, e.g. {list(ids[ids.duplicated()][:3])}; make them unique")
        pos = ids.get_indexer(self.snps_)
        found = np.flatnonzero(pos >= 0)
        if len(found) == 0:
            raise GenofaceError(f"none of the {len(self.snps_)} ancestry SNPs is among the {m} variants given")
        if len(found) < len(self.snps_):
            log.info("ancestry PCA: %d of %d SNPs present", len(found), len(self.snps_))
        order = np.argsort(pos[found])  # read columns in file order
        found = found[order]
        cols = pos[found]
        scores = np.zeros((n, len(self.components_)), dtype=np.float64)
        for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=cols):
            sel = found[j0:j1]
            scores += standardize(g, self.alt_freq_[sel]).astype(np.float64) @ self.components_[:, sel].T
        return scores

    def to_arrays(self) -> dict[str, Any]:
        """The fitted state as numpy arrays and JSON-able scalars (no pickle needed)."""
        self._check_fitted()
        params = {k: getattr(self, k) for k in _PARAMS}
        return {
            **{k: (int(v) if isinstance(v, (int, np.integer)) else float(v)) for k, v in params.items()},
            "n_samples": int(self.n_samples_),
            "snps": np.asarray(self.snps_, dtype=str),
            "alt_freq": self.alt_freq_,
            "components": self.components_,
            "singular_values": self.singular_values_,
            "explained_variance": self.explained_variance_,
            "explained_variance_ratio": self.explained_variance_ratio_,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> AncestryPCA:
        """Rebuild a fitted AncestryPCA from :meth:`to_arrays` output."""
        missing = [k for k in (*_PARAMS, *_STATE) if k not in arrays]
        if missing:
            raise GenofaceError(f"ancestry PCA arrays lack {missing}; were they written by AncestryPCA.to_arrays?")
        pca = cls(**{k: _scalar(arrays[k]) for k in _PARAMS})
        pca.snps_ = np.asarray(arrays["snps"]).astype(str)
        pca.alt_freq_ = np.asarray(arrays["alt_freq"], dtype=np.float64)
        pca.components_ = np.asarray(arrays["components"], dtype=np.float64)
        pca.singular_values_ = np.asarray(arrays["singular_values"], dtype=np.float64)
        pca.explained_variance_ = np.asarray(arrays["explained_variance"], dtype=np.float64)
        pca.explained_variance_ratio_ = np.asarray(arrays["explained_variance_ratio"], dtype=np.float64)
        pca.n_samples_ = int(_scalar(arrays["n_samples"]))
        k = len(pca.snps_)
        if pca.alt_freq_.shape != (k,) or pca.components_.shape != (pca.n_components, k):
            raise GenofaceError(
                f"ancestry PCA arrays disagree: {k} SNPs, alt_freq {pca.alt_freq_.shape}, "
                f"components {pca.components_.shape} for {pca.n_components} components"
            )
        return pca

    def __repr__(self) -> str:
        return f"AncestryPCA(n_components={self.n_components}, random_state={self.random_state})"


_PARAMS = (
    "n_components",
    "min_maf",
    "min_call_rate",
    "ld_window",
    "ld_step",
    "ld_r2",
    "n_iter",
    "random_state",
    "chunk",
)
_STATE = (
    "n_samples",
    "snps",
    "alt_freq",
    "components",
    "singular_values",
    "explained_variance",
    "explained_variance_ratio",
)


def _scalar(v: Any) -> Any:
    a = np.asarray(v)
    return a.item() if a.ndim == 0 else v
