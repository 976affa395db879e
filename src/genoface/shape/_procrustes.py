"""Procrustes alignment of faces that share one template (same vertex order).

:func:`rigid_align` is the least-squares similarity (Umeyama 1991, IEEE PAMI 13:376) or rigid
(Kabsch 1976) fit of one point set onto another, never a reflection; :func:`align_to` does it
for a batch of faces; :func:`generalized_procrustes` aligns a set of faces to their own mean
(Gower 1975). Convention: ``aligned = s * source @ R.T + t``.
"""

from __future__ import annotations

import numpy as np

from genoface.core.errors import GenofaceError


def _check_points(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise GenofaceError(f"{name} must be (V, 3) points, got shape {x.shape}")
    if x.shape[0] < 3:
        raise GenofaceError(f"{name} has {x.shape[0]} points; a rigid fit needs at least 3")
    if not np.isfinite(x).all():
        raise GenofaceError(f"{name} contains NaN or infinite coordinates")
    return x


def _check_weights(weights, n_vertices: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_vertices,):
        raise GenofaceError(f"weights must have one value per vertex ({n_vertices}), got shape {w.shape}")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise GenofaceError("weights must be finite, non-negative and not all zero")
    return w / w.sum()


def _fit(src: np.ndarray, dst: np.ndarray, w: np.ndarray | None, scale: bool):
    """Batched Umeyama: src, dst (n, V, 3), w (V,) summing to 1 or None -> R (n,3,3), t (n,3), s (n,)."""
    if w is None:
        mu_s, mu_d = src.mean(axis=1), dst.mean(axis=1)
        sc, dc = src - mu_s[:, None], dst - mu_d[:, None]
        cov = np.matmul(dc.transpose(0, 2, 1), sc) / src.shape[1]  # (n, 3, 3) = E[d s^T]
        var_s = (sc**2).sum(axis=(1, 2)) / src.shape[1]
    else:
        mu_s, mu_d = np.einsum("v,nvk->nk", w, src), np.einsum("v,nvk->nk", w, dst)
        sc, dc = src - mu_s[:, None], dst - mu_d[:, None]
        cov = np.einsum("v,nvi,nvj->nij", w, dc, sc)
        var_s = np.einsum("v,nvk->n", w, sc**2)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones((src.shape[0], 3))
    d[:, -1] = np.sign(np.linalg.det(u @ vt))  # the reflection guard
    d[d == 0] = 1.0
    r = np.matmul(u * d[:, None, :], vt)
    if scale:
        if (var_s <= 0).any():
            raise GenofaceError("cannot fit a scale to a source whose points all coincide")
        s = (sig * d).sum(axis=1) / var_s
    else:
        s = np.ones(src.shape[0])
    t = mu_d - s[:, None] * np.einsum("nij,nj->ni", r, mu_s)
    return r, t, s


def rigid_align(
    source: np.ndarray,
    target: np.ndarray,
    *,
    scale: bool = False,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Least-squares rotation ``R``, translation ``t`` (and scale ``s``) taking ``source`` onto ``target``.

    Parameters
    ----------
    source, target : (V, 3) corresponding points (same vertex order), mm.
    scale : also fit an isotropic scale (similarity transform); else ``s`` is 1.
    weights : optional (V,) non-negative weight per vertex (e.g. to fit on a region only).

    Returns
    -------
    aligned : (V, 3) ``s * source @ R.T + t``.
    R : (3, 3) proper rotation (det +1; reflections are never returned).
    t : (3,) translation.
    s : the scale (1.0 when ``scale`` is False).
    """
    src, dst = _check_points("source", source), _check_points("target", target)
    if src.shape != dst.shape:
        raise GenofaceError(f"source {src.shape} and target {dst.shape} must have the same vertices")
    w = _check_weights(weights, src.shape[0])
    r, t, s = _fit(src[None], dst[None], w, scale)
    aligned = s[0] * src @ r[0].T + t[0]
    return aligned, r[0], t[0], float(s[0])


def align_to(
    faces: np.ndarray,
    target: np.ndarray,
    *,
    scale: bool = False,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Each of ``faces`` (n, V, 3) rigidly (or with ``scale``, similarly) aligned onto ``target`` (V, 3)."""
    dst = _check_points("target", target)
    f = np.asarray(faces, dtype=np.float64)
    if f.ndim == 2:
        f = f[None]
    if f.ndim != 3 or f.shape[1:] != dst.shape:
        raise GenofaceError(f"faces must be (n, {dst.shape[0]}, 3) to align to the target, got {f.shape}")
    if not np.isfinite(f).all():
        raise GenofaceError("faces contain NaN or infinite coordinates")
    w = _check_weights(weights, dst.shape[0])
    r, t, s = _fit(f, np.broadcast_to(dst, f.shape), w, scale)
    return s[:, None, None] * np.matmul(f, r.transpose(0, 2, 1)) + t[:, None, :]


def generalized_procrustes(
    faces: np.ndarray,
    *,
    scale: bool = False,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Procrustes analysis: align ``faces`` (n, V, 3) to their common mean.

    Starts from the first face, then alternates aligning every face to the current mean and
    recomputing the mean (itself aligned to the previous mean, which fixes the overall pose
    and stops it drifting) until the mean moves less than ``tol`` mm RMS per vertex, or
    ``max_iter`` iterations. The mean is centred at the origin. With ``scale`` the faces are
    also scaled, and the mean is kept at the inputs' average centroid size (so that the
    result stays in mm rather than shrinking).

    Returns ``(aligned (n, V, 3), mean (V, 3))``. Applying any rigid motion to any of the
    inputs leaves the result unchanged up to one rigid motion common to all outputs.
    """
    f = np.asarray(faces, dtype=np.float64)
    if f.ndim != 3 or f.shape[2] != 3:
        raise GenofaceError(f"faces must be (n, V, 3), got shape {f.shape}")
    if f.shape[0] < 1:
        raise GenofaceError("generalized_procrustes needs at least one face")
    if not np.isfinite(f).all():
        raise GenofaceError("faces contain NaN or infinite coordinates")
    if tol <= 0 or max_iter < 1:
        raise GenofaceError(f"need tol > 0 and max_iter >= 1, got tol={tol}, max_iter={max_iter}")

    centred = f - f.mean(axis=1, keepdims=True)
    size = np.sqrt((centred**2).sum(axis=(1, 2))).mean()  # average centroid size
    mean = centred[0].copy()
    if scale:
        mean *= size / np.sqrt((mean**2).sum())
    aligned = centred
    for _ in range(max_iter):
        aligned = align_to(centred, mean, scale=scale)
        new = aligned.mean(axis=0)
        new = align_to(new[None], mean)[0]  # keep the gauge: no drift of the mean's pose
        new -= new.mean(axis=0)
        if scale:
            new *= size / np.sqrt((new**2).sum())
        change = np.sqrt(((new - mean) ** 2).sum(axis=1).mean())
        mean = new
        if change < tol:
            break
    aligned = align_to(centred, mean, scale=scale)
    return aligned, mean
