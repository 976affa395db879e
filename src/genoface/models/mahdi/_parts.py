"""Facial parts: hierarchical spectral clustering of vertex correlations (Claes et al., Nat Genet 2018).

Two vertices belong together when they vary together across people. The similarity of vertices
i and j is the RV coefficient of their 3D coordinates (the multivariate R² of Escoufier),
computed from the shape PCA: with ``W_i`` the (K, 3) rows of vertex i in the components scaled
by their SD, the cross-covariance is ``C_ij = W_i' W_j`` and
``RV_ij = |C_ij|² / (|C_ii| |C_jj|)`` (Frobenius norms). Since ``|W_i' W_j|² = <P_i, P_j>`` for
``P_i = W_i W_i'``, the whole (V, V) matrix is one product of the vectorized ``P_i``.

The face is split in two by spectral clustering of that affinity (scikit-learn), each half in two
again, and so on for ``levels`` levels: 1 + 2 + 4 + ... parts, the whole face first. A split
that would leave a part with fewer than ``min_vertices`` vertices is not made (the part stays
whole at the deeper levels and appears once). Pieces of a half that are cut off from its main
body on the mesh join the other half, so every part is one connected patch where the mesh allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import SpectralClustering

from genoface.core.errors import GenofaceError


@dataclass(frozen=True)
class FacialParts:
    """The parts of a template: ``members[k]`` the sorted vertex indices of part k, ``level[k]``
    its depth (0: the whole face), ``parent[k]`` the part it was split from (-1 for the face)."""

    members: tuple[np.ndarray, ...]
    level: np.ndarray
    parent: np.ndarray

    @property
    def n_parts(self) -> int:
        return len(self.members)

    def names(self) -> list[str]:
        """``face``, then ``L{level}.{index within the level}``."""
        seen: dict[int, int] = {}
        out = []
        for lv in self.level.tolist():
            seen[lv] = seen.get(lv, -1) + 1
            out.append("face" if lv == 0 else f"L{lv}.{seen[lv]}")
        return out

    def to_arrays(self) -> dict[str, Any]:
        sizes = np.array([len(m) for m in self.members], dtype=np.int64)
        return {"members": np.concatenate(self.members), "sizes": sizes, "level": self.level, "parent": self.parent}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Self:
        bounds = np.cumsum(np.asarray(arrays["sizes"], dtype=np.int64))[:-1]
        members = tuple(np.asarray(m, dtype=np.int64) for m in np.split(np.asarray(arrays["members"]), bounds))
        return cls(members, np.asarray(arrays["level"], dtype=np.int64), np.asarray(arrays["parent"], dtype=np.int64))


def vertex_rv(components: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """(V, V) RV coefficients of the vertices' 3D coordinates from a shape PCA's ``components``
    (K, 3V) and their ``variances`` (K,)."""
    k = components.shape[0]
    w = (components * np.sqrt(np.maximum(variances, 0.0))[:, None]).reshape(k, -1, 3).transpose(1, 0, 2)  # (V, K, 3)
    p = np.einsum("vka,vla->vkl", w, w)  # (V, K, K) symmetric
    iu = np.triu_indices(k)
    scale = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))  # off-diagonal entries count twice in <P_i, P_j>
    flat = (p[:, iu[0], iu[1]] * scale).astype(np.float32)
    norms = np.linalg.norm(flat, axis=1)
    flat /= np.maximum(norms, 1e-12)[:, None]
    return np.clip(flat @ flat.T, 0.0, 1.0)


def facial_parts(
    components: np.ndarray,
    variances: np.ndarray,
    triangles: np.ndarray,
    levels: int,
    *,
    min_vertices: int = 64,
    random_state: int = 0,
) -> FacialParts:
    """Split the template hierarchically into parts (module docstring); ``levels`` 0 gives the
    whole face only."""
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or not 0 <= levels <= 6:
        raise GenofaceError(f"levels must be an integer from 0 to 6, got {levels!r}")
    n_vertices = components.shape[1] // 3
    rv = vertex_rv(components, variances) if levels else None
    adjacency = _mesh_adjacency(triangles, n_vertices)
    members: list[np.ndarray] = [np.arange(n_vertices)]
    level, parent = [0], [-1]
    frontier = [0]
    for depth in range(1, int(levels) + 1):
        nxt = []
        for k in frontier:
            halves = _split(rv, adjacency, members[k], min_vertices, random_state)
            for half in halves:
                members.append(half)
                level.append(depth)
                parent.append(k)
                nxt.append(len(members) - 1)
        frontier = nxt
    return FacialParts(tuple(members), np.asarray(level, dtype=np.int64), np.asarray(parent, dtype=np.int64))


def _split(rv, adjacency: sp.csr_matrix, part: np.ndarray, min_vertices: int, seed: int) -> tuple[np.ndarray, ...]:
    """Two connected halves of ``part`` by spectral clustering, or the part itself, unsplit."""
    if len(part) < 2 * min_vertices:
        return (part,)
    affinity = rv[np.ix_(part, part)].astype(np.float64)
    labels = SpectralClustering(
        n_clusters=2, affinity="precomputed", assign_labels="cluster_qr", random_state=seed
    ).fit_predict(affinity)
    labels = _connected_halves(adjacency[part][:, part], labels)
    halves = (part[labels == 0], part[labels == 1])
    if min(len(h) for h in halves) < min_vertices:
        return (part,)
    return halves


def _connected_halves(adjacency: sp.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """Labels where every mesh-connected piece of a half, but its largest, joins the other half."""
    labels = labels.copy()
    for side in (0, 1):
        rows = np.flatnonzero(labels == side)
        if len(rows) == 0:
            continue
        _, piece = connected_components(adjacency[rows][:, rows], directed=False)
        largest = np.bincount(piece).argmax()
        labels[rows[piece != largest]] = 1 - side
    return labels


def _mesh_adjacency(triangles: np.ndarray, n_vertices: int) -> sp.csr_matrix:
    t = np.asarray(triangles, dtype=np.int64)
    e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    adj = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    return ((adj + adj.T) > 0).astype(np.int8).tocsr()
