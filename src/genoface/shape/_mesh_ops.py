"""Mesh operators for the mesh networks (SpiralNet++, Difface), computed once from the template.

NumPy/SciPy only, plus ``fast-simplification`` (Fast Quadric Mesh Simplification) for the
decimation. Everything here depends on the template's connectivity (and, for the sampling
matrices, its geometry), never on a particular person's face.

- :func:`vertex_neighbours`, :func:`k_ring`: adjacency.
- :func:`spiral_sequences`: the spiral orderings of SpiralNet++ (Gong et al., ICCVW 2019).
- :func:`downsampling_hierarchy`: the down- and up-sampling matrices of COMA (Ranjan et al.,
  ECCV 2018) and SpiralNet++, from quadric edge collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from genoface.core.errors import GenofaceError


def _check_triangles(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    t = np.asarray(triangles)
    if t.ndim != 2 or t.shape[1] != 3 or not np.issubdtype(t.dtype, np.integer):
        raise GenofaceError(f"triangles must be (T, 3) integer vertex indices, got {t.dtype} {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= n_vertices):
        raise GenofaceError(f"triangles index vertices outside 0..{n_vertices - 1}")
    return t.astype(np.int64)


def vertex_neighbours(triangles: np.ndarray, n_vertices: int) -> list[np.ndarray]:
    """Sorted neighbour indices of each vertex (vertices sharing an edge), one array per vertex."""
    t = _check_triangles(triangles, n_vertices)
    e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    adj = sp.csr_matrix((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    adj.sum_duplicates()
    adj.sort_indices()
    return [adj.indices[adj.indptr[i] : adj.indptr[i + 1]].astype(np.int64) for i in range(n_vertices)]


def k_ring(neighbours: list[np.ndarray], vertex: int, k: int) -> list[np.ndarray]:
    """Rings 1..k around ``vertex``: ring j holds the vertices exactly j edges away (sorted)."""
    if k < 0:
        raise GenofaceError(f"k={k}: the ring count must be >= 0")
    seen = {int(vertex)}
    frontier = [int(vertex)]
    rings = []
    for _ in range(k):
        nxt = sorted({int(u) for w in frontier for u in neighbours[w]} - seen)
        seen.update(nxt)
        rings.append(np.asarray(nxt, dtype=np.int64))
        frontier = nxt
    return rings


def _ordered_neighbours(triangles: np.ndarray, n_vertices: int) -> list[list[int]]:
    """Neighbours of each vertex in clockwise order (seen from the side where the triangles are
    counter-clockwise), as OpenMesh's default vertex-vertex circulator gives them.

    Start: for an interior vertex, its lowest-index neighbour; for a boundary vertex, the
    boundary neighbour from which the clockwise sweep covers the whole fan. Where the fan is
    not a simple disc or half-disc (non-manifold vertex), the sweeps are concatenated and any
    leftover neighbours appended in index order.
    """
    t = triangles
    # For a triangle (a, b, c) seen counter-clockwise around a: b -> c is a CCW step, so the
    # clockwise successor of c around a is b.
    rows = np.concatenate([t[:, 0], t[:, 1], t[:, 2]])
    frm = np.concatenate([t[:, 2], t[:, 0], t[:, 1]])  # clockwise: c -> b around a
    to = np.concatenate([t[:, 1], t[:, 2], t[:, 0]])
    order = np.lexsort((frm, rows))
    rows, frm, to = rows[order], frm[order], to[order]
    bounds = np.searchsorted(rows, np.arange(n_vertices + 1))
    result: list[list[int]] = []
    for v in range(n_vertices):
        a, b = bounds[v], bounds[v + 1]
        cw = {}
        for f_, t_ in zip(frm[a:b].tolist(), to[a:b].tolist(), strict=True):
            cw.setdefault(f_, t_)
        if not cw:
            result.append([])
            continue
        has_pred = set(cw.values())
        starts = sorted(x for x in cw if x not in has_pred)  # boundary fans start here
        nbrs = set(cw) | has_pred
        out: list[int] = []
        done: set[int] = set()
        for s in starts + sorted(nbrs):
            if s in done:
                continue
            x = s
            while x not in done:
                out.append(x)
                done.add(x)
                if x not in cw:
                    break
                x = cw[x]
        result.append(out)
    return result


def _next_ring(order: list[list[int]], last_ring: list[int], other: set[int]) -> list[int]:
    """SpiralNet++'s ``_next_ring``: walk each vertex of the last ring, from just after its
    first neighbour that lies in the last ring, collecting vertices not seen yet."""
    last = set(last_ring)
    res: list[int] = []
    seen = set(res)
    for v in last_ring:
        nb = order[v]
        first = next((i for i, u in enumerate(nb) if u in last), None)
        seq = nb if first is None else nb[first + 1 :] + nb[: first + 1]
        for u in seq:
            if u not in last and u not in other and u not in seen:
                res.append(u)
                seen.add(u)
    return res


def spiral_sequences(
    vertices: np.ndarray,
    triangles: np.ndarray,
    *,
    length: int = 9,
    dilation: int = 1,
) -> np.ndarray:
    """Spiral index sequences (V, ``length``) as in SpiralNet++ (``utils/generate_spiral_seq.py``).

    Each spiral starts at its vertex, goes once round its 1-ring clockwise (seen from the
    front, where the triangles are counter-clockwise; OpenMesh's order) starting from a fixed
    neighbour (the lowest-index one; for a boundary vertex the end of its fan), then round the
    following rings, each continuing from where the previous one sits. The first
    ``length * dilation`` entries are kept, then every ``dilation``-th.

    Where a vertex's rings run out before the spiral is full (tiny or nearly isolated
    pieces), the spiral is padded with the vertex itself. SpiralNet++ fills it with nearest
    vertices in space instead, which can take vertices from outside the rings (even from
    other pieces of the mesh); padding keeps every spiral on its own rings.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise GenofaceError(f"vertices must be (V, 3), got shape {v.shape}")
    if length < 1 or dilation < 1:
        raise GenofaceError(f"length={length}, dilation={dilation}: both must be >= 1")
    n = v.shape[0]
    t = _check_triangles(triangles, n)
    order = _ordered_neighbours(t, n)
    need = length * dilation
    out = np.empty((n, length), dtype=np.int64)
    for i in range(n):
        spiral = [i]
        last_ring = list(order[i])
        nxt = _next_ring(order, last_ring, {i})
        spiral.extend(last_ring)
        while len(spiral) + len(nxt) < need and nxt:
            last_ring = nxt
            nxt = _next_ring(order, last_ring, set(spiral))
            spiral.extend(last_ring)
        spiral.extend(nxt)
        spiral = spiral[:need]
        spiral += [i] * (need - len(spiral))
        out[i] = spiral[::dilation]
    return out


@dataclass(frozen=True, eq=False)
class MeshLevel:
    """One level of a down-sampling hierarchy.

    vertices : (V_l, 3) the coarser mesh (a subset of the finer level's vertices).
    triangles : (T_l, 3) its triangles.
    down : (V_l, V_{l-1}) sparse, picks each kept vertex from the finer level.
    up : (V_{l-1}, V_l) sparse, barycentric coordinates of every finer vertex in its nearest
        triangle of this level (kept vertices map to themselves).
    kept : (V_l,) indices of the kept vertices in the finer level.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    down: sp.csr_matrix
    up: sp.csr_matrix
    kept: np.ndarray


def _decimate(vertices: np.ndarray, triangles: np.ndarray, n_keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge collapse to ``n_keep`` vertices; returns (kept indices, triangles on them).

    fast-simplification moves the surviving vertices to their quadric-optimal positions; like
    COMA we keep only its collapse history (which vertex merged into which) and leave the kept
    vertices where they are, so that down-sampling is plain selection. The history is a
    sequence of edge collapses, so any prefix of it is a valid decimation: we run the
    simplifier a little past the target and replay exactly as many collapses as needed.
    """
    try:
        import fast_simplification
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise GenofaceError("mesh decimation needs fast-simplification: pip install fast-simplification") from exc

    n = vertices.shape[0]
    n_collapse = n - n_keep
    target = max(int(len(triangles) * n_keep / n * 0.8), 4)
    _, _, collapses = fast_simplification.simplify(
        np.array(vertices, dtype=np.float64, order="C"),  # fresh writeable copies: the
        np.array(triangles, dtype=np.int32, order="C"),  # binding refuses read-only arrays
        target_count=target,
        return_collapses=True,
    )
    collapses = np.asarray(collapses, dtype=np.int64).reshape(-1, 2)
    parent = np.arange(n)
    for keep, gone in collapses[:n_collapse]:
        parent[gone] = keep
    root = _resolve(parent)
    # The simplifier stops short on very coarse meshes (a few dozen vertices: it refuses
    # collapses that would fold triangles), and on flat regions it can leave a vertex on no
    # triangle. Finish by hand: merge such floating vertices into their nearest neighbour and
    # collapse the shortest edge whose endpoints share at most two neighbours (the link
    # condition, so the surface stays a surface), until the target is reached.
    root = _greedy_collapse(vertices, triangles, root, n_keep)
    kept = np.flatnonzero(root == np.arange(n))
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    tri = _merged_triangles(triangles, root)
    return kept, new_index[tri]


def _resolve(parent: np.ndarray) -> np.ndarray:
    """Follow merge chains to their end: a vertex may merge into one that merges later."""
    root = parent.copy()
    while True:
        nxt = parent[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _merged_triangles(triangles: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Triangles after merging each vertex into ``root``: degenerate and duplicate ones dropped."""
    tri = root[triangles]
    ok = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
    tri = tri[ok]
    _, first = np.unique(np.sort(tri, axis=1), axis=0, return_index=True)
    return tri[np.sort(first)]


def _merge_floating(vertices: np.ndarray, tri: np.ndarray, root: np.ndarray) -> int:
    """Merge one surviving vertex that lies on no triangle into the nearest vertex that does.

    Returns 1 if a vertex was merged, else 0. ``root`` is updated in place."""
    alive = np.flatnonzero(root == np.arange(len(root)))
    on_tri = np.unique(tri)
    floating = np.setdiff1d(alive, on_tri)
    if not len(floating) or not len(on_tri):
        return 0
    gone = floating[0]
    keep = on_tri[np.argmin(np.linalg.norm(vertices[on_tri] - vertices[gone], axis=1))]
    root[root == gone] = keep
    return 1


def _greedy_collapse(vertices: np.ndarray, triangles: np.ndarray, root: np.ndarray, n_keep: int) -> np.ndarray:
    """Shortest-edge collapses on the merged mesh until ``n_keep`` vertices remain, with no
    vertex left off the triangles."""
    root = root.copy()
    n_alive = int((root == np.arange(len(root))).sum())
    while True:
        tri = _merged_triangles(triangles, root)
        if _merge_floating(vertices, tri, root):
            n_alive -= 1
            continue
        if n_alive <= n_keep or not len(tri):
            return root
        edges = np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1), axis=0)
        nb = vertex_neighbours(tri, len(root))
        length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
        common = np.array([len(np.intersect1d(nb[a], nb[b], assume_unique=True)) for a, b in edges])
        order = np.lexsort((length, common > 2))  # link condition first, then shortest
        keep, gone = edges[order[0]]
        root[root == gone] = keep
        n_alive -= 1


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (n, 3) of the point of each triangle (a, b, c) closest to p.

    Ericson, Real-Time Collision Detection (2005), 5.1.5, vectorised over n.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    n = len(p)
    out = np.zeros((n, 3))
    done = np.zeros(n, dtype=bool)

    def put(mask, w):
        m = mask & ~done
        out[m] = w[m] if w.ndim == 2 else w
        done[m] = True

    with np.errstate(divide="ignore", invalid="ignore"):
        put((d1 <= 0) & (d2 <= 0), np.array([1.0, 0.0, 0.0]))
        put((d3 >= 0) & (d4 <= d3), np.array([0.0, 1.0, 0.0]))
        v = d1 / (d1 - d3)
        put((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - v, v, 0 * v], -1))
        put((d6 >= 0) & (d5 <= d6), np.array([0.0, 0.0, 1.0]))
        w = d2 / (d2 - d6)
        put((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - w, 0 * w, w], -1))
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        put((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.stack([0 * w, 1 - w, w], -1))
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        put(np.ones(n, dtype=bool), np.stack([1 - v - w, v, w], -1))
    out = np.nan_to_num(out, nan=1.0 / 3.0)  # degenerate triangles: their centroid
    return out


def _upsampling(fine: np.ndarray, coarse: np.ndarray, tri: np.ndarray, kept: np.ndarray, k: int = 16) -> sp.csr_matrix:
    """(V_fine, V_coarse): kept vertices copy themselves; the others are barycentric
    combinations of the closest point in the nearest coarse triangle (searched among the
    ``k`` triangles with the nearest centroids)."""
    n_fine, n_coarse = len(fine), len(coarse)
    rows = [kept]
    cols = [np.arange(n_coarse)]
    vals = [np.ones(n_coarse)]
    removed = np.setdiff1d(np.arange(n_fine), kept)
    if len(removed) and len(tri):
        k = min(k, len(tri))
        centroids = coarse[tri].mean(axis=1)
        _, cand = cKDTree(centroids).query(fine[removed], k=k)
        cand = cand.reshape(len(removed), k)
        p = np.repeat(fine[removed], k, axis=0)
        t = tri[cand.reshape(-1)]
        bary = _closest_on_triangles(p, coarse[t[:, 0]], coarse[t[:, 1]], coarse[t[:, 2]])
        closest = np.einsum("nk,nkd->nd", bary, coarse[t])
        dist = ((closest - p) ** 2).sum(-1).reshape(len(removed), k)
        best = dist.argmin(axis=1)
        pick = np.arange(len(removed)) * k + best
        rows.append(np.repeat(removed, 3))
        cols.append(t[pick].reshape(-1))
        vals.append(bary[pick].reshape(-1))
    elif len(removed):
        raise GenofaceError("the coarse mesh has no triangles to up-sample from; use smaller factors")
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_fine, n_coarse))
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def downsampling_hierarchy(
    vertices: np.ndarray,
    triangles: np.ndarray,
    factors: tuple[int, ...] = (4, 4, 4, 4),
) -> list[MeshLevel]:
    """Down- and up-sampling operators between successively decimated versions of a mesh.

    Level l keeps ``round(V_{l-1} / factors[l])`` vertices of level l-1 by quadric edge
    collapse (Garland & Heckbert 1997, through ``fast-simplification``). As in COMA and
    SpiralNet++, ``down`` selects the kept vertices (one 1 per row), and ``up`` maps every
    vertex of the finer level to barycentric coordinates in the nearest triangle of the
    coarser one; rows of both sum to 1. Returns one :class:`MeshLevel` per factor, finest
    first (the input mesh itself is not included).
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise GenofaceError(f"vertices must be (V, 3), got shape {v.shape}")
    t = _check_triangles(triangles, v.shape[0])
    if not factors:
        raise GenofaceError("factors: give at least one down-sampling factor, e.g. (4, 4, 4, 4)")
    levels = []
    for f in factors:
        if not (isinstance(f, (int, np.integer)) and f >= 1):
            raise GenofaceError(f"factors must be integers >= 1, got {factors!r}")
        n_keep = max(int(round(v.shape[0] / f)), 3)
        if f == 1:
            kept, tri = np.arange(v.shape[0]), t
        else:
            kept, tri = _decimate(v, t, n_keep)
        coarse = v[kept]
        down = sp.csr_matrix((np.ones(len(kept)), (np.arange(len(kept)), kept)), shape=(len(kept), v.shape[0]))
        up = _upsampling(v, coarse, tri, kept)
        levels.append(MeshLevel(vertices=coarse, triangles=tri, down=down, up=up, kept=kept))
        v, t = coarse, tri
    return levels
