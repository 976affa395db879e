"""Put a genotype matrix in the column order of a model's SNP list."""

from __future__ import annotations

import numpy as np
import pandas as pd


def variant_columns(variant_ids: pd.Series | np.ndarray, wanted_ids: np.ndarray) -> np.ndarray:
    """Column of each of ``wanted_ids`` among ``variant_ids``, -1 where absent. Matching is by
    variant id; ids that occur twice use their first occurrence."""
    index = pd.Index(np.asarray(variant_ids, dtype=str))
    first = np.flatnonzero(~index.duplicated())
    found = index[first].get_indexer(np.asarray(wanted_ids, dtype=str))
    return np.where(found >= 0, first[np.maximum(found, 0)], -1)


def align_dosages(genotypes: np.ndarray, variant_ids: pd.Series | np.ndarray, wanted_ids: np.ndarray) -> np.ndarray:
    """ALT dosages (n, len(wanted_ids)) as float64, NaN where a SNP is absent or its call missing.

    ``genotypes`` is (n, m) int8 with -1 for missing; ``variant_ids`` names its m columns.
    Matching is by variant id; ids that occur twice in the input use their first occurrence.
    """
    pos = variant_columns(variant_ids, wanted_ids)
    n = genotypes.shape[0]
    out = np.full((n, len(pos)), np.nan)
    found = pos >= 0
    block = np.asarray(genotypes[:, pos[found]], dtype=np.float64)
    block[block < 0] = np.nan
    out[:, found] = block
    return out
