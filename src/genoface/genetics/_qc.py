"""Variant and sample quality control on dosage matrices, computed in column blocks.

Genotypes are (samples, variants) int8 ALT dosages 0/1/2, -1 missing (DESIGN "Genotype coding"),
as NumPy arrays, read-only memory maps or any array that supports column slicing. Every
function reads ``chunk`` columns at a time, so memory stays O(n x chunk) besides the outputs.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from genoface.core.errors import GenofaceError
from genoface.genetics.engine import block_width, map_variant_blocks

log = logging.getLogger(__name__)

#: Columns read per block by default.
DEFAULT_CHUNK = 4096
#: Columns of :func:`variant_stats`.
VARIANT_STATS_COLUMNS = ("call_rate", "alt_freq", "maf", "n_het", "hwe_p")
# Probabilities within this relative distance of the observed one count as "as likely" in the
# exact test: ties are analytic, their floating-point values differ in the last bits (plink does
# the same).
_HWE_TIE = 1e-7


def matrix_shape(genotypes: Any) -> tuple[int, int]:
    shape = getattr(genotypes, "shape", None)
    if shape is None or len(shape) != 2:
        raise GenofaceError(f"genotypes must be a 2-D (samples, variants) array, got shape {shape}")
    return int(shape[0]), int(shape[1])


def check_chunk(chunk: int) -> int:
    if int(chunk) < 1:
        raise GenofaceError(f"chunk must be >= 1 column, got {chunk}")
    return int(chunk)


def iter_blocks(genotypes: Any, chunk: int = DEFAULT_CHUNK, columns: np.ndarray | None = None):
    """Yield ``(j0, j1, block)``: int8 (n, j1 - j0) blocks of consecutive columns, ``chunk`` at a
    time or fewer for a large cohort (:func:`~genoface.genetics.engine.block_width`).

    With ``columns`` (sorted indices), blocks are ``genotypes[:, columns[j0:j1]]`` (read by
    :func:`take_columns`).
    """
    n, m = matrix_shape(genotypes)
    m = m if columns is None else len(columns)
    chunk = block_width(n, check_chunk(chunk))
    for j0 in range(0, m, chunk):
        j1 = min(j0 + chunk, m)
        if columns is None:
            yield j0, j1, np.asarray(genotypes[:, j0:j1], dtype=np.int8)
        else:
            yield j0, j1, take_columns(genotypes, columns[j0:j1])


def take_columns(genotypes: Any, columns: np.ndarray) -> np.ndarray:
    """``genotypes[:, columns]`` as an int8 array. A NumPy array or memory map is read row by
    row (``np.take``): indexing the columns of a row-major matrix walks it column by column, a
    new page at every row, and at 10,000 people that is several times slower. Other arrays
    (Dask, HDF5) are indexed as they are."""
    if isinstance(genotypes, np.ndarray):
        return np.asarray(np.take(genotypes, columns, axis=1), dtype=np.int8)
    return np.asarray(genotypes[:, columns], dtype=np.int8)


class ColumnView:
    """The columns ``cols`` of a genotype matrix, read lazily: indexing it reads only the
    selected columns of the rows asked for, so a GWAS or a PCA that reads it block by block
    never copies the columns out whole (10,000 people x 100,000 SNPs: 1 GB)."""

    ndim = 2
    dtype = np.dtype(np.int8)

    def __init__(self, genotypes: Any, cols: np.ndarray) -> None:
        self.genotypes = genotypes
        self.cols = np.asarray(cols)
        self.shape = (matrix_shape(genotypes)[0], len(self.cols))

    def __getitem__(self, key: tuple) -> np.ndarray:
        rows, sel = key
        if isinstance(rows, slice) and rows == slice(None):
            return take_columns(self.genotypes, self.cols[sel])
        return np.asarray(self.genotypes[rows, self.cols[sel]], dtype=np.int8)


def hwe_exact_p(n_het: int, n_hom1: int, n_hom2: int) -> float:
    """Hardy-Weinberg exact test p-value (Wigginton, Cutler & Abecasis 2005), as plink's.

    The p-value is the total probability, given the allele counts, of all heterozygote counts no
    more likely than the one observed. No called genotypes gives 1.
    """
    n_het, n_hom1, n_hom2 = int(n_het), int(n_hom1), int(n_hom2)
    if min(n_het, n_hom1, n_hom2) < 0:
        raise GenofaceError(f"genotype counts must be >= 0, got het={n_het}, hom={n_hom1}, {n_hom2}")
    n = n_het + n_hom1 + n_hom2
    if n == 0:
        return 1.0
    rare = 2 * min(n_hom1, n_hom2) + n_het  # copies of the rarer allele
    common = 2 * n - rare
    # Heterozygote counts with the parity of `rare`, from 0/1 to `rare`.
    k = np.arange(rare % 2, rare + 1, 2, dtype=np.float64)
    hom_r = (rare - k) / 2
    hom_c = (common - k) / 2
    logp = k * np.log(2.0) - gammaln(k + 1) - gammaln(hom_r + 1) - gammaln(hom_c + 1)
    obs = logp[(n_het - rare % 2) // 2]
    probs = np.exp(logp - logp.max())
    p_obs = np.exp(obs - logp.max())
    p = probs[probs <= p_obs * (1 + _HWE_TIE)].sum() / probs.sum()
    return float(min(1.0, p))


def _hwe_many(n_het: np.ndarray, n_hom1: np.ndarray, n_hom2: np.ndarray) -> np.ndarray:
    """:func:`hwe_exact_p` for every variant, each distinct count triple computed once."""
    triples = np.stack([n_het, np.minimum(n_hom1, n_hom2), np.maximum(n_hom1, n_hom2)], axis=1)
    uniq, inverse = np.unique(triples, axis=0, return_inverse=True)
    p = np.array([hwe_exact_p(*t) for t in uniq], dtype=np.float64)
    return p[inverse.reshape(-1)]


def _mask(values: np.ndarray | None, size: int, name: str, what: str) -> np.ndarray:
    if values is None:
        return np.zeros(size, dtype=bool)
    arr = np.asarray(values, dtype=bool)
    if arr.shape != (size,):
        raise GenofaceError(f"{name} has shape {arr.shape}, expected ({size},) one value per {what}")
    return arr


def variant_stats(
    genotypes: Any,
    *,
    is_x: np.ndarray | None = None,
    is_male: np.ndarray | None = None,
    chunk: int = DEFAULT_CHUNK,
    hwe: bool = True,
) -> pd.DataFrame:
    """Per-variant call rate, ALT frequency, MAF, heterozygote count and HWE exact p-value.

    ``is_x`` (m,) marks chromosome X variants and ``is_male`` (n,) the men; on X a man carries
    one allele copy (his 0/2 dosage counts as 0/1 allele), a man's heterozygous call there is
    invalid and left out of the frequency, and the HWE test uses women only (as plink's
    ``--hardy`` female p-value). Without ``is_x`` every variant is treated as autosomal.
    ``alt_freq`` is NaN where no call was made. ``hwe=False`` skips the exact test (``hwe_p``
    NaN), which costs most of the time when only frequencies are needed.
    """
    n, m = matrix_shape(genotypes)
    if n == 0 or m == 0:
        raise GenofaceError(f"variant_stats needs at least one sample and one variant, got {n} x {m}")
    x = _mask(is_x, m, "is_x", "variant")
    male = _mask(is_male, n, "is_male", "sample")
    if x.any() and is_male is None:
        log.warning("is_male not given: every sample is treated as a woman on chromosome X")
    blocks = map_variant_blocks(partial(_block_counts, is_x=x, is_male=male), genotypes, check_chunk(chunk))
    called, n_het, alt_copies, allele_copies = (np.concatenate([b[k] for b in blocks]) for k in range(4))
    hwe_counts = np.concatenate([b[4] for b in blocks], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        alt_freq = np.where(allele_copies > 0, alt_copies / allele_copies, np.nan)
    return pd.DataFrame(
        {
            "call_rate": called / n,
            "alt_freq": alt_freq,
            "maf": np.minimum(alt_freq, 1 - alt_freq),
            "n_het": n_het,
            "hwe_p": _hwe_many(*hwe_counts) if hwe else np.full(m, np.nan),
        }
    )


def _block_counts(j0: int, j1: int, g: np.ndarray, *, is_x: np.ndarray, is_male: np.ndarray) -> tuple:
    """Per-variant counts of one block for :func:`variant_stats`: calls, heterozygotes, ALT and
    allele copies, and the HWE genotype counts (het, hom ref, hom alt) among those tested."""
    xb = is_x[j0:j1]
    c0, c1, c2 = (g == 0), (g == 1), (g == 2)
    n0, n1, n2 = c0.sum(0), c1.sum(0), c2.sum(0)
    alt_copies = (n1 + 2 * n2).astype(np.float64)
    allele_copies = (2 * (n0 + n1 + n2)).astype(np.float64)
    hwe_counts = np.stack([n1, n0, n2]).astype(np.int64)
    if xb.any():
        cx = np.flatnonzero(xb)
        female = ~is_male
        f0, f1, f2 = (c[female][:, cx].sum(0) for c in (c0, c1, c2))
        m0, m2 = c0[is_male][:, cx].sum(0), c2[is_male][:, cx].sum(0)
        alt_copies[cx] = f1 + 2 * f2 + m2
        allele_copies[cx] = 2 * (f0 + f1 + f2) + m0 + m2
        hwe_counts[:, cx] = f1, f0, f2
    return (n0 + n1 + n2).astype(np.int64), n1.astype(np.int64), alt_copies, allele_copies, hwe_counts


def variant_qc(
    genotypes: Any,
    *,
    min_call_rate: float = 0.95,
    min_maf: float = 0.01,
    min_hwe_p: float = 1e-6,
    is_x: np.ndarray | None = None,
    is_male: np.ndarray | None = None,
    chunk: int = DEFAULT_CHUNK,
    stats: pd.DataFrame | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Variants passing all filters: ``(mask (m,) bool, summary)``.

    A variant passes with call rate >= ``min_call_rate``, MAF >= ``min_maf`` and HWE p >=
    ``min_hwe_p``. ``summary`` counts the variants failing each filter (a variant can fail
    several) and those kept. ``stats`` reuses a :func:`variant_stats` table.
    """
    for name, v in (("min_call_rate", min_call_rate), ("min_maf", min_maf), ("min_hwe_p", min_hwe_p)):
        if not 0.0 <= v <= 1.0:
            raise GenofaceError(f"{name} must be in [0, 1], got {v}")
    if stats is None:
        stats = variant_stats(genotypes, is_x=is_x, is_male=is_male, chunk=chunk)
    elif len(stats) != matrix_shape(genotypes)[1]:
        raise GenofaceError(f"stats has {len(stats)} rows but genotypes have {matrix_shape(genotypes)[1]} variants")
    fail_call = ~(stats["call_rate"].to_numpy() >= min_call_rate)
    fail_maf = ~(stats["maf"].to_numpy() >= min_maf)  # NaN (no calls) fails
    fail_hwe = ~(stats["hwe_p"].to_numpy() >= min_hwe_p)
    keep = ~(fail_call | fail_maf | fail_hwe)
    summary = {
        "n_variants": len(keep),
        "call_rate": int(fail_call.sum()),
        "maf": int(fail_maf.sum()),
        "hwe": int(fail_hwe.sum()),
        "n_kept": int(keep.sum()),
    }
    log.info("variant QC: %s", summary)
    return keep, summary


def sample_call_rate(genotypes: Any, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """(n,) share of variants called (not -1) in each sample."""
    n, m = matrix_shape(genotypes)
    if m == 0:
        raise GenofaceError(f"sample_call_rate needs at least one variant, got {n} x {m}")
    count = np.zeros(n, dtype=np.int64)
    for _, _, g in iter_blocks(genotypes, chunk):
        count += (g >= 0).sum(1)
    return count / m


def standardize(block: np.ndarray, alt_freq: np.ndarray) -> np.ndarray:
    """float32 ``(x - 2p) / sqrt(2p(1-p))``; missing calls and monomorphic columns give 0."""
    g = np.asarray(block)
    p = np.asarray(alt_freq, dtype=np.float64)
    if g.ndim != 2 or p.shape != (g.shape[1],):
        raise GenofaceError(f"alt_freq has shape {p.shape}, expected ({g.shape[1] if g.ndim == 2 else '?'},)")
    sd = np.sqrt(2 * p * (1 - p))
    ok = np.isfinite(sd) & (sd > 0)
    scale = np.where(ok, 1.0 / np.where(ok, sd, 1.0), 0.0).astype(np.float32)
    centre = np.where(ok, 2 * p, 0.0).astype(np.float32)
    # (g - centre) * scale in float32, in one array (each new large array costs page faults)
    z = np.subtract(g, centre, dtype=np.float32)
    z *= scale
    missing = g < 0
    if missing.any():
        z[missing] = 0.0
    return z
