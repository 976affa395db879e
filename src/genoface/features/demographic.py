"""The demographic features every face model shares: ancestry PCs and genetic sex from the genome,
age and BMI from the covariates. One builder, so that ``demographic``, ``lippert``, ``sero``,
``mahdi`` and ``difface`` (and the trait predictor's sex) rest on the same calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.state import with_prefix, without_prefix
from genoface.genetics import CALL_CONFIDENCE, AncestryPCA, SexPredictor, fit_sex_caller

#: P(male) when the genome cannot tell (no chromosome X in the model's panel).
UNKNOWN_SEX = 0.5


def covariate_arrays(sample_ids: np.ndarray, covariates: pd.DataFrame | None) -> dict[str, np.ndarray | None]:
    """is_male (1/0/NaN), age and bmi aligned to ``sample_ids``; None where not given."""
    out: dict[str, np.ndarray | None] = {"is_male": None, "age": None, "bmi": None}
    if covariates is None:
        return out
    missing = pd.Index(sample_ids).difference(covariates.index)
    if len(missing):
        raise GenofaceError(f"covariates lack {len(missing)} samples, e.g. {', '.join(map(str, missing[:5]))}")
    cov = covariates.loc[sample_ids]
    if "sex" in cov:
        out["is_male"] = cov["sex"].map({"M": 1.0, "F": 0.0}).astype(float).to_numpy()
    for c in ("age", "bmi"):
        if c in cov:
            out[c] = pd.to_numeric(cov[c], errors="coerce").to_numpy(dtype=float)
    return out


def moments(x: np.ndarray | None, name: str, model: str) -> tuple[float, float]:
    """Mean and SD of a training covariate (SD 1 when constant); refuses an absent one."""
    if x is None or np.isnan(x).all():
        raise GenofaceError(f"the {model} model needs {name} for the training people (covariates.tsv)")
    sd = float(np.nanstd(x))
    return float(np.nanmean(x)), sd if sd > 0 else 1.0


@dataclass
class PersonFeatures:
    """What a genome and its covariates say of each person (n people)."""

    pcs: np.ndarray  # (n, n_pcs) ancestry PCs
    male: np.ndarray  # (n,) P(male): the genetic call, or the recorded sex where one is given
    age: np.ndarray | None  # (n,) years, NaN where unknown; None when no covariates were given
    bmi: np.ndarray | None

    @property
    def complete(self) -> np.ndarray | None:
        """Mask of people with both age and BMI, or None when neither column was given."""
        if self.age is None or self.bmi is None:
            return None
        return ~(np.isnan(self.age) | np.isnan(self.bmi))

    def sex_calls(self) -> np.ndarray:
        """(n,) 1.0 (male) or 0.0 (female) where P(male) reaches the caller's confidence either
        way, NaN where the genome leaves sex open."""
        return np.where(self.male >= CALL_CONFIDENCE, 1.0, np.where(self.male <= 1 - CALL_CONFIDENCE, 0.0, np.nan))

    def genome_block(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n, n_pcs + 1): ancestry PCs and sex, the genome's own demographic columns."""
        return np.column_stack([self.pcs[rows], self.male[rows]])


class DemographicFeatures:
    """Ancestry PCs (randomized PCA of LD-pruned SNPs), genetic sex (the calibrated caller of
    :mod:`genoface.genetics`) and age and BMI moments, fitted on training people.

    Parameters
    ----------
    n_pcs : ancestry principal components, 1 to 50.
    random_state : seed of the randomized PCA.
    """

    def __init__(self, n_pcs: int = 4, random_state: int = 0) -> None:
        if not 1 <= int(n_pcs) <= 50:
            raise GenofaceError(f"n_pcs must be between 1 and 50, got {n_pcs}")
        self.n_pcs = int(n_pcs)
        self.random_state = int(random_state)

    def fit(
        self, cohort, model: str, covariates_needed: bool = True, ancestry: AncestryPCA | None = None
    ) -> PersonFeatures:
        """Fit on the training ``cohort`` and return the training people's features (their sex
        as the genome calls it: at prediction, a recorded sex replaces the call). ``model`` names
        the caller in errors; with ``covariates_needed``, age and BMI must be recorded.
        ``ancestry``: an ancestry PCA already fitted (on these people or more) to use instead of
        fitting one."""
        if ancestry is None:
            self.ancestry_ = AncestryPCA(n_components=self.n_pcs, random_state=self.random_state)
            pcs = self.ancestry_.fit_transform(cohort.genotypes, cohort.variants)
        else:
            if ancestry.n_components != self.n_pcs:
                raise GenofaceError(f"the ancestry PCA given has {ancestry.n_components} components, not {self.n_pcs}")
            self.ancestry_ = ancestry
            pcs = ancestry.transform(cohort.genotypes, cohort.variants["id"].to_numpy())
        cov = covariate_arrays(cohort.sample_ids, cohort.covariates)
        recorded = cov["is_male"]
        self.sex_ = fit_sex_caller(cohort.genotypes, cohort.variants, recorded)
        self.age_moments_, self.bmi_moments_ = (0.0, 1.0), (0.0, 1.0)
        if covariates_needed:
            self.age_moments_ = moments(cov["age"], "age", model)
            self.bmi_moments_ = moments(cov["bmi"], "bmi", model)
        male = self._genetic_male(cohort.genotypes, cohort.variants)
        return PersonFeatures(pcs=pcs, male=male, age=cov["age"], bmi=cov["bmi"])

    def transform(self, genotypes, covariates: pd.DataFrame | None) -> PersonFeatures:
        """Features of the people of ``genotypes`` (a GenotypeData or Cohort on the model's panel)."""
        ids = np.asarray(genotypes.sample_ids)
        pcs = self.ancestry_.transform(genotypes.genotypes, genotypes.variants["id"].to_numpy())
        male = self._genetic_male(genotypes.genotypes, genotypes.variants)
        cov = covariate_arrays(ids, covariates)
        if cov["is_male"] is not None:  # a recorded sex replaces the genetic call
            male = np.where(np.isnan(cov["is_male"]), male, cov["is_male"])
        return PersonFeatures(pcs=pcs, male=male, age=cov["age"], bmi=cov["bmi"])

    def _genetic_male(self, genotypes, variants: pd.DataFrame) -> np.ndarray:
        if self.sex_ is None:
            return np.full(genotypes.shape[0], UNKNOWN_SEX)
        return self.sex_.predict_proba(genotypes, variants)

    def covariate_columns(self, features: PersonFeatures, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n, 3): standardized age, its square (ageing is not linear) and standardized BMI."""
        a = (features.age[rows] - self.age_moments_[0]) / self.age_moments_[1]
        b = (features.bmi[rows] - self.bmi_moments_[0]) / self.bmi_moments_[1]
        return np.column_stack([a, a**2, b])

    # ---- the array-state protocol (genoface.core.state) -------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        state = {
            "n_pcs": self.n_pcs,
            "random_state": self.random_state,
            "age_moments": list(self.age_moments_),
            "bmi_moments": list(self.bmi_moments_),
            "has_sex": self.sex_ is not None,
        }
        state |= with_prefix(self.ancestry_.to_arrays(), "ancestry")
        if self.sex_ is not None:
            state |= with_prefix(self.sex_.to_arrays(), "sex")
        return state

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Self:
        features = cls(n_pcs=int(arrays["n_pcs"]), random_state=int(arrays["random_state"]))
        features.age_moments_ = tuple(float(x) for x in arrays["age_moments"])
        features.bmi_moments_ = tuple(float(x) for x in arrays["bmi_moments"])
        features.ancestry_ = AncestryPCA.from_arrays(without_prefix(arrays, "ancestry"))
        features.sex_ = SexPredictor.from_arrays(without_prefix(arrays, "sex")) if arrays["has_sex"] else None
        return features
