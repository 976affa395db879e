"""Names to model classes, so the command line and the evaluation can name any model."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from genoface.core.errors import GenofaceError
from genoface.models._base import MODEL_CLASSES as _REGISTRY
from genoface.models._base import FaceModel, get_model_class


def register_model(cls: type[FaceModel]) -> type[FaceModel]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two models registered as {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def make_model(name: str, **params) -> FaceModel:
    """A new, unfitted model of the registered ``name``."""
    cls = get_model_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise GenofaceError(f"model {name!r}: {exc}") from None


def fit_model(model: FaceModel, cohort, progress: Callable[[str, int, int], None] | None = None) -> FaceModel:
    """``model.fit(cohort)``, passing ``progress`` to models whose training reports it (the
    neural ones: epochs take minutes)."""
    if progress is not None and "progress" in inspect.signature(model.fit).parameters:
        return model.fit(cohort, progress=progress)
    return model.fit(cohort)
