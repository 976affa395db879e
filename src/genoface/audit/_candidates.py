"""The candidates of an audit: people with recorded traits, faces, or both, from a cohort
directory or a trait table (TSV)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.io.covariates import read_covariates
from genoface.traits import CATEGORICAL_TRAITS

#: Recorded traits a genome can be matched on (age and BMI are accepted in a table but no
#: genome predicts them, so they do not count).
MATCHED_TRAITS = ("sex", "population", "eye_colour", "hair_colour", "skin_colour", "height_cm")


@dataclass
class Candidates:
    """``traits``: recorded traits indexed by sample id (columns among MATCHED_TRAITS);
    ``faces``: (n, V, 3) mm in the same order, or None; ``simulated``: from a simulated cohort."""

    traits: pd.DataFrame
    faces: np.ndarray | None
    simulated: bool
    source: str

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self.traits.index, dtype=str)


def read_candidates(path: str | os.PathLike) -> Candidates:
    """A cohort directory (faces and the traits in its covariates.tsv) or a TSV with a
    sample_id column and any of the columns sex, age, bmi, population, eye_colour, hair_colour,
    skin_colour, height_cm (an unknown column is an error: a misspelt trait must not be
    silently ignored)."""
    path = Path(path)
    if path.is_dir():
        cohort = Cohort.load(path)
        traits = cohort.covariates.reindex(cohort.sample_ids)
        traits = traits[[c for c in MATCHED_TRAITS if c in traits.columns]]
        return Candidates(traits, np.asarray(cohort.faces), bool(cohort.meta.get("simulated")), str(path))
    if not path.is_file():
        raise GenofaceError(f"{path}: no such candidate cohort directory or table")
    table = read_covariates(path, required=(), known_only=True)
    recorded = [c for c in MATCHED_TRAITS if c in table.columns]
    if not recorded:
        raise GenofaceError(f"{path}: no trait column to match on; give any of {', '.join(MATCHED_TRAITS)}")
    _check_categories(table, str(path))
    return Candidates(table[recorded], None, False, str(path))


def _check_categories(table: pd.DataFrame, source: str) -> None:
    """A recorded colour must be one the trait models know (a typo must not silently not count)."""
    for trait, (categories, _) in CATEGORICAL_TRAITS.items():
        if trait not in table:
            continue
        values = table[trait].dropna().astype(str)
        bad = values[~values.isin(categories)]
        if len(bad):
            raise GenofaceError(
                f"{source}: {trait} {bad.iloc[0]!r} for {bad.index[0]} is not one of {', '.join(categories)}; "
                "map the recorded values to these categories (empty or NA if unknown)"
            )
