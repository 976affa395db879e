"""The one save/load protocol of every fitted genoface object.

A fitted object gives its learned state as one flat mapping, ``to_arrays() -> dict``, whose values
are NumPy arrays or JSON-able scalars (numbers, strings, lists), and is rebuilt from it by the
class method ``from_arrays(mapping)``. A part inside a larger object is stored under a prefix
(:func:`with_prefix`, :func:`without_prefix`). Saving writes the arrays to an ``.npz`` and the
scalars to JSON, so loading never unpickles: nothing in a saved state can run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self

import numpy as np


class ArrayState(Protocol):
    """What every saved estimator implements (see the module docstring)."""

    def to_arrays(self) -> dict[str, Any]: ...

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Self: ...


def with_prefix(arrays: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{prefix_key: value}``: a part's state, namespaced inside its owner's state."""
    return {f"{prefix}_{k}": v for k, v in arrays.items()}


def without_prefix(arrays: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The part of ``arrays`` stored by :func:`with_prefix` under ``prefix``, with its own names back."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in arrays.items() if k.startswith(f"{prefix}_")}


def split_scalars(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able scalars, arrays) of a state: what goes to a JSON file and what to an ``.npz``."""
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    return scalars, {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
