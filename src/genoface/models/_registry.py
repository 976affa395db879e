"""Names to model classes, so the command line and the evaluation can name any model."""

from __future__ import annotations

from genoface.core.errors import GenofaceError
from genoface.models._base import FaceModel

_REGISTRY: dict[str, type[FaceModel]] = {}


def register_model(cls: type[FaceModel]) -> type[FaceModel]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two models registered as {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[FaceModel]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GenofaceError(f"unknown model {name!r}; choose one of: {', '.join(available_models())}") from None


def make_model(name: str, **params) -> FaceModel:
    """A new, unfitted model of the registered ``name``."""
    cls = get_model_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise GenofaceError(f"model {name!r}: {exc}") from None
