"""The data schema every layer shares: chromosome names (the one definition every reader and every
genetic computation uses), the columns of a variant table and of the covariate table.

Files name chromosomes many ways: ``chr1`` or ``1``; X as ``X``, ``chrX`` or ``23``; Y as ``24``;
the pseudo-autosomal regions of X as ``XY``, ``PAR``, ``25`` (PLINK's split-off PAR); the
mitochondrion as ``MT``, ``M``, ``chrM`` or ``26``. On reading every name becomes one of
``"1".."22", "X", "Y", "XY", "MT"`` (other contigs keep their name, ``chr`` dropped).

Pseudo-autosomal SNPs are diploid in men. A file may name them ``XY``; where it puts them on X and
the genome build is known, :func:`split_par` moves the X positions inside that build's PARs to
``XY`` (as ``plink2 --split-par``). Where the build is unknown, X stays X: a simulated X has
positions that mean nothing in GRCh37 or GRCh38.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of every variant table, in this order.
VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt")
#: Genotype code for a missing call.
MISSING = -1

#: The covariate table's index column.
SAMPLE_ID = "sample_id"
#: Required covariate columns (besides sample_id).
REQUIRED_COLUMNS = ("sex", "age", "bmi")
#: Known optional covariate columns.
OPTIONAL_COLUMNS = ("population", "eye_colour", "hair_colour", "skin_colour", "height_cm")
#: Allowed values of sex.
SEXES = ("F", "M")

AUTOSOMES = tuple(str(i) for i in range(1, 23))
X, Y, PAR, MT = "X", "Y", "XY", "MT"
#: Chromosomes on which a man carries one copy (his calls there are hemizygous).
HEMIZYGOUS = frozenset({X, Y})
#: Everything that is not an autosome: left out of ancestry PCA and face-SNP selection.
NON_AUTOSOMAL = frozenset({X, Y, PAR, MT})

_ALIASES = {
    "23": X,
    "24": Y,
    "25": PAR,
    "PAR": PAR,
    "PAR1": PAR,
    "PAR2": PAR,
    "X_PAR1": PAR,
    "X_PAR2": PAR,
    "26": MT,
    "M": MT,
    "MITO": MT,
}
_EMPTY = frozenset({"", ".", "NA", "NAN", "NONE"})

#: Pseudo-autosomal regions on X, 1-based inclusive, per genome build (GRC release notes).
PAR_REGIONS = {
    "GRCh37": ((60_001, 2_699_520), (154_931_044, 155_260_560)),
    "GRCh38": ((10_001, 2_781_479), (155_701_383, 156_030_895)),
}
_BUILD_ALIASES = {
    "GRCH37": "GRCh37",
    "HG19": "GRCh37",
    "B37": "GRCh37",
    "37": "GRCh37",
    "GRCH38": "GRCh38",
    "HG38": "GRCh38",
    "B38": "GRCh38",
    "38": "GRCh38",
}
#: Length of chromosome X per build, to recognise a build from a VCF's ``##contig`` lines.
X_LENGTH = {"GRCh37": 155_270_560, "GRCh38": 156_040_895}


def normalize_chrom(name: object) -> str:
    """One chromosome name in canonical form: ``chr1`` -> ``1``, ``23``/``chrX`` -> ``X``, ...;
    "" for an empty or missing name."""
    s = str(name).strip()
    upper = s.upper()
    if upper in _EMPTY:
        return ""
    if upper.startswith("CHR"):
        s, upper = s[3:], upper[3:]
    if upper in _ALIASES:
        return _ALIASES[upper]
    if upper in ("X", "Y", "XY", "MT"):
        return upper
    if upper.isdigit():
        return upper.lstrip("0") or "0"  # "01" -> "1" (no int(): a 5,000-digit name must not raise)
    return s


def normalize_chroms(names) -> np.ndarray:
    """:func:`normalize_chrom` over an array or Series of names (each distinct name done once)."""
    values = np.asarray(names, dtype=object).astype(str)
    if values.size == 0:
        return values
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([normalize_chrom(u) for u in uniq], dtype=object)[inverse].astype(str)


def normalize_build(build: object) -> str | None:
    """ "GRCh37" / "GRCh38" from the ways files write them (hg19, b37, GRCh38.p13, ...); else None."""
    s = str(build or "").strip().upper()
    for key, value in _BUILD_ALIASES.items():
        if s == key or s.startswith(key + ".") or s.startswith(key + "_"):
            return value
    for key, value in _BUILD_ALIASES.items():
        if len(key) > 2 and key in s:  # e.g. "human_g1k_v37" is not caught, "GRCh37 (hg19)" is
            return value
    return None


def in_par(chrom, pos, build: str | None) -> np.ndarray:
    """Which variants lie in a pseudo-autosomal region: named XY, or on X inside the PARs of
    ``build`` (no position rule when the build is unknown)."""
    chrom = np.asarray(chrom).astype(str)
    pos = np.asarray(pos, dtype=np.int64)
    out = chrom == PAR
    regions = PAR_REGIONS.get(normalize_build(build) or "", ())
    on_x = chrom == X
    for lo, hi in regions:
        out |= on_x & (pos >= lo) & (pos <= hi)
    return out


def split_par(variants: pd.DataFrame, build: str | None) -> pd.DataFrame:
    """``variants`` with X positions inside the PARs of ``build`` renamed XY (a copy when any is)."""
    par = in_par(variants["chrom"], variants["pos"], build) & (variants["chrom"].to_numpy() == X)
    if not par.any():
        return variants
    out = variants.copy()
    out.loc[par, "chrom"] = PAR
    return out


def is_x(chrom) -> np.ndarray:
    """Bool mask of chromosome X outside the PARs (PAR SNPs are named ``XY`` on reading)."""
    return normalize_chroms(chrom) == X


def is_y(chrom) -> np.ndarray:
    return normalize_chroms(chrom) == Y


def non_autosomal(chrom) -> np.ndarray:
    """Bool mask of X, Y, the PARs and MT (any name): what ancestry and trait-SNP work leaves out."""
    return np.isin(normalize_chroms(chrom), list(NON_AUTOSOMAL))
