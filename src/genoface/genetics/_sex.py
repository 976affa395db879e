"""Genetic sex from chromosome X homozygosity (and Y calls), as ``plink --check-sex`` does."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.schema import is_x, is_y
from genoface.genetics._qc import DEFAULT_CHUNK, iter_blocks, matrix_shape

log = logging.getLogger(__name__)

#: Chromosome names read as X and as Y.
SEXCHECK_COLUMNS = ("f", "n_x", "y_count", "inferred_sex", "status")


def x_inbreeding(
    genotypes: Any,
    x_cols: np.ndarray,
    *,
    is_male: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample ``(F, n_called)`` on the given X columns: F = (O - E) / (N - E).

    O is the number of homozygous calls, N the number of called variants and E = sum over them
    of 1 - 2p(1 - p), p the variant's ALT allele frequency (plink ``--check-sex``). A man known
    from ``is_male`` contributes one allele copy to p (his 0/2 dosage is hemizygous, as plink
    counts men of known sex); without sex information every call counts as diploid, as plink
    does for samples of unknown sex. With ``groups`` (a label per sample, e.g. the population)
    p is taken within the sample's group, which removes the excess homozygosity that pooling
    populations gives women (the Wahlund effect). Variants monomorphic in everyone are left out.
    """
    n, _ = matrix_shape(genotypes)
    x_cols = np.asarray(x_cols, dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    if groups is not None:
        gr = np.asarray(groups)
        if gr.shape != (n,):
            raise GenofaceError(f"groups has shape {gr.shape}, expected ({n},) one label per sample")
        labels = np.unique(gr.astype(str), return_inverse=True)[1].reshape(-1)
    k = int(labels.max()) + 1
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1.0
    copies = np.full(n, 2.0) if is_male is None else np.where(np.asarray(is_male, dtype=bool), 1.0, 2.0)
    alt = np.zeros((k, len(x_cols)))
    tot = np.zeros((k, len(x_cols)))
    for j0, j1, g in iter_blocks(genotypes, chunk, columns=x_cols):
        ok = g >= 0
        if is_male is not None:
            ok &= ~((copies[:, None] == 1) & (g == 1))  # a man's heterozygous call is invalid
        alt[:, j0:j1] = onehot.T @ (np.where(ok, g, 0) * (copies / 2)[:, None])
        tot[:, j0:j1] = onehot.T @ (ok * copies[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = alt.sum(0) / tot.sum(0)
        p = np.where(tot > 0, alt / tot, pooled)
    use = np.isfinite(pooled) & (pooled > 0) & (pooled < 1)
    e_hom_site = 1.0 - 2.0 * p * (1.0 - p)  # (groups, sites)
    obs = np.zeros(n)
    exp = np.zeros(n)
    called = np.zeros(n, dtype=np.int64)
    for j0, j1, g in iter_blocks(genotypes, chunk, columns=x_cols):
        u = use[j0:j1]
        g = g[:, u]
        ok = g >= 0
        called += ok.sum(1)
        obs += (ok & (g != 1)).sum(1)
        exp += np.einsum("ij,ij->i", ok.astype(np.float64), e_hom_site[:, j0:j1][:, u][labels])
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(called > exp, (obs - exp) / (called - exp), np.nan)
    return f, called


def check_sex(
    genotypes: Any,
    variants: pd.DataFrame,
    *,
    female_max_f: float = 0.2,
    male_min_f: float = 0.8,
    reported_sex: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> pd.DataFrame:
    """Per sample: X inbreeding ``f``, X variants called ``n_x``, Y calls ``y_count`` (-1 without
    chromosome Y variants), ``inferred_sex`` "F" (f < ``female_max_f``), "M" (f > ``male_min_f``)
    or "" (ambiguous), and ``status``: "OK" where the inferred sex is known and agrees with
    ``reported_sex`` (F/M per sample, when given), else "PROBLEM". With ``reported_sex`` the X
    allele frequencies count reported men as hemizygous, and with ``groups`` (e.g. populations
    or ancestry clusters) they are taken within each group (see :func:`x_inbreeding`): plink's
    pooled frequencies raise women's F in a cohort of several populations.
    """
    n, m = matrix_shape(genotypes)
    if len(variants) != m:
        raise GenofaceError(f"variants has {len(variants)} rows but genotypes have {m} columns")
    if not (0.0 <= female_max_f <= male_min_f <= 1.0):
        raise GenofaceError(
            f"need 0 <= female_max_f <= male_min_f <= 1, got female_max_f={female_max_f}, male_min_f={male_min_f}"
        )
    chrom = np.asarray(variants["chrom"]).astype(str)
    x_cols = np.flatnonzero(is_x(chrom))
    y_cols = np.flatnonzero(is_y(chrom))
    if len(x_cols) == 0:
        raise GenofaceError(f"no chromosome X variants among the {m} given (chrom X, chrX or 23); sex needs them")
    rep = None
    if reported_sex is not None:
        rep = np.asarray(reported_sex, dtype=str)
        if rep.shape != (n,):
            raise GenofaceError(f"reported_sex has shape {rep.shape}, expected ({n},) one F/M per sample")
    f, n_x = x_inbreeding(genotypes, x_cols, is_male=None if rep is None else rep == "M", groups=groups, chunk=chunk)
    if np.isnan(f).all():
        raise GenofaceError(f"no polymorphic chromosome X variant among the {len(x_cols)} on X; sex cannot be inferred")
    y_count = np.full(n, -1, dtype=np.int64)
    if len(y_cols):
        y_count[:] = 0
        for _, _, g in iter_blocks(genotypes, chunk, columns=y_cols):
            y_count += (g >= 0).sum(1)
    inferred = np.where(f > male_min_f, "M", np.where(f < female_max_f, "F", ""))
    ok = inferred != "" if rep is None else (inferred != "") & (inferred == rep)
    out = pd.DataFrame(
        {"f": f, "n_x": n_x, "y_count": y_count, "inferred_sex": inferred, "status": np.where(ok, "OK", "PROBLEM")}
    )
    log.info(
        "sex check: %d F, %d M, %d ambiguous", (inferred == "F").sum(), (inferred == "M").sum(), (inferred == "").sum()
    )
    return out


def x_heterozygosity(genotypes: Any, variants: pd.DataFrame, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Per sample, the share of called chromosome X SNPs that are heterozygous (NaN if none).

    Men are hemizygous, so theirs is zero but for genotyping error, while a woman is
    heterozygous at a good share of common SNPs; unlike F, this needs no allele frequencies
    and so is not pulled around by population structure.
    """
    x_cols = np.flatnonzero(is_x(variants["chrom"]))
    n, _ = matrix_shape(genotypes)
    het = np.zeros(n)
    called = np.zeros(n)
    for _, _, block in iter_blocks(genotypes, chunk, x_cols):
        het += (block == 1).sum(axis=1)
        called += (block >= 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(called > 0, het / np.maximum(called, 1), np.nan)
