"""Train a registered model on a cohort directory and save it with its provenance."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from genoface.cohort import Cohort
from genoface.errors import GenofaceError
from genoface.models._registry import get_model_class, make_model


def train_model(
    cohort: str | os.PathLike | Cohort, model: str, out: str | os.PathLike, *, seed: int = 0, overwrite: bool = False
) -> Path:
    """Fit model ``model`` on every person of ``cohort`` and write it to ``out``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise GenofaceError(f"{out} already exists; choose another --out or remove it first")
    cls = get_model_class(model)
    params = {"random_state": seed} if "random_state" in inspect.signature(cls.__init__).parameters else {}
    data = cohort if isinstance(cohort, Cohort) else Cohort.load(cohort)
    fitted = make_model(model, **params).fit(data)
    return fitted.save(out, provenance={"seed": seed}, overwrite=overwrite)
