"""Face errors in mm: per vertex, after a rigid fit, and averaged over facial regions.

The names follow the evaluation protocol: ``face_error_mm`` is the mean of
:func:`per_vertex_error`, ``face_error_mm_aligned`` the mean of :func:`aligned_error`, and the
per-region errors come from :func:`region_errors`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.shape._procrustes import align_to


def _pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if t.ndim == 2:
        t = t[None]
    if p.ndim != 3 or p.shape[2] != 3 or p.shape != t.shape:
        raise GenofaceError(
            f"predicted {p.shape} and true {t.shape} faces must both be (n, V, 3) with the same n and V"
        )
    return p, t


def per_vertex_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Euclidean distance (n, V) in mm between each predicted and true vertex, as registered."""
    p, t = _pair(pred, true)
    return np.linalg.norm(p - t, axis=2)


def aligned_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-vertex error (n, V) after rigidly aligning each predicted face to its true face.

    The fit is the least-squares rotation and translation (no scale, no reflection), so face
    size errors still count; only pose differences are forgiven.
    """
    p, t = _pair(pred, true)
    aligned = np.stack([align_to(pi[None], ti)[0] for pi, ti in zip(p, t, strict=True)]) if len(p) else p
    return np.linalg.norm(aligned - t, axis=2)


def region_errors(errors: np.ndarray, regions: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Mean error (mm) over people and vertices of each region.

    ``errors`` is (n, V) (or (V,)); ``regions`` is (V,) integer labels indexing ``names``
    (-1 or any other label outside ``range(len(names))`` means no region). Regions with no
    vertex get NaN.
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim == 1:
        e = e[None]
    lab = np.asarray(regions)
    if e.ndim != 2 or lab.shape != (e.shape[1],):
        raise GenofaceError(f"errors {e.shape} must be (n, V) with one region label per vertex; labels {lab.shape}")
    per_vertex = e.mean(axis=0)
    out = {}
    for i, name in enumerate(names):
        mask = lab == i
        out[str(name)] = float(per_vertex[mask].mean()) if mask.any() else float("nan")
    return out
