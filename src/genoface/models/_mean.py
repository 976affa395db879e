"""The simplest baseline: everyone gets the training cohort's mean face."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from genoface.models._base import FaceModel, genotype_arrays
from genoface.models._registry import register_model


@register_model
class MeanFaceModel(FaceModel):
    """Predicts the population mean face for every genome; ignores DNA and covariates."""

    name = "mean"
    uses_covariates = False

    def __init__(self) -> None:
        pass

    def fit(self, cohort) -> Self:
        self.mean_face_ = np.asarray(cohort.faces, dtype=np.float64).mean(axis=0)
        self._remember_cohort(cohort)
        self.fitted_ = True
        return self

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        self._check_fitted()
        ids, _, _ = genotype_arrays(genotypes)
        return np.broadcast_to(self.mean_face_, (len(ids), *self.mean_face_.shape)).copy()

    def to_arrays(self) -> dict[str, Any]:
        return {"mean_face": self.mean_face_}

    def _from_arrays(self, state: dict[str, Any]) -> None:
        self.mean_face_ = state["mean_face"]
