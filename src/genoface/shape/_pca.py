"""A PCA shape space learned from faces (n, V, 3) that share one template.

Scikit-learn style: hyper-parameters in ``__init__``, learned state in attributes ending in
``_``. The decomposition is the SVD of the centred (n, 3V) data, computed through the
eigendecomposition of the smaller of its two Gram matrices (n x n or 3V x 3V): exact, and far
faster than a direct SVD of wide face data (2,000 SFM faces: ~5 s instead of ~70 s on two
cores). The price is precision on tiny variances (relative to the largest, below ~1e-10),
which are treated as zero. Coordinates are flattened x0, y0, z0, x1, ... as in
:class:`~genoface.shape.ShapeModel`. Saving goes through :meth:`ShapePCA.to_arrays`, a plain
dict of NumPy arrays (write it with ``np.savez``; no pickle).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.extmath import randomized_svd

from genoface.core.errors import GenofaceError

_ARRAY_KEYS = ("mean", "components", "explained_variance", "explained_variance_ratio", "total_variance")


# Above this many faces a truncated fit uses randomized SVD (Halko et al.): the exact
# eigendecomposition of an 8,000 x 8,000 Gram matrix, and the 8,000 x 8,000 x 15,000 product
# after it, take minutes; the leading components are all the models use.
_RANDOMIZED_ABOVE = 2000
_RANDOMIZED_MAX_COMPONENTS = 400


def _principal_axes(xc: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Squared singular values (r,) and right singular vectors (r, D) of ``xc`` (n, D), decreasing;
    only the leading ``k`` (randomized, seeded) when k is given and small against the data."""
    n, d = xc.shape
    if k is not None and min(n, d) > _RANDOMIZED_ABOVE and k <= _RANDOMIZED_MAX_COMPONENTS:
        _, s, vt = randomized_svd(xc, k, n_oversamples=20, n_iter=7, random_state=0)
        return s**2, vt
    if n <= d:
        s2, u = np.linalg.eigh(xc @ xc.T)
        s2, u = np.clip(s2[::-1], 0.0, None), u[:, ::-1]
        pos = s2 > s2[0] * 1e-14
        s2, u = s2[pos], u[:, pos]
        vt = (u.T @ xc) / np.sqrt(s2)[:, None]
    else:
        s2, v = np.linalg.eigh(xc.T @ xc)
        s2, vt = np.clip(s2[::-1], 0.0, None), v[:, ::-1].T
    assert vt.shape[1] == d
    return s2, vt


class ShapePCA:
    """Principal components of face shapes.

    Parameters
    ----------
    n_components : None, int or float
        None keeps every component with non-zero variance (at most n - 1); an int >= 1 keeps
        that many; a float in (0, 1) keeps the fewest components whose explained variance
        reaches that fraction of the total.

    Attributes (after :meth:`fit`)
    ----------
    mean_ : (V, 3) the mean face.
    components_ : (K, 3V) orthonormal principal axes, by decreasing variance; the sign of
        each is fixed so that its largest-magnitude entry is positive (deterministic).
    explained_variance_ : (K,) variance (mm^2) along each axis (divisor n - 1).
    explained_variance_ratio_ : (K,) share of the total variance.
    n_components_ : K.
    n_vertices_ : V.
    """

    def __init__(self, n_components: int | float | None = None):
        self.n_components = n_components

    def _check_params(self) -> None:
        k = self.n_components
        if k is None:
            return
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            if k < 1:
                raise GenofaceError(f"n_components={k}: use an int >= 1, a float in (0, 1) or None")
            return
        if isinstance(k, numbers.Real) and 0.0 < float(k) < 1.0:
            return
        raise GenofaceError(
            f"n_components={k!r}: use None (all), an int >= 1, or a float in (0, 1) (variance fraction)"
        )

    @staticmethod
    def _check_faces(faces: np.ndarray, n_vertices: int | None = None) -> np.ndarray:
        f = np.asarray(faces, dtype=np.float64)
        if f.ndim == 2 and f.shape[1] == 3 and n_vertices is not None:
            f = f[None]
        if f.ndim != 3 or f.shape[2] != 3:
            raise GenofaceError(f"faces must be (n, V, 3), got shape {f.shape}")
        if n_vertices is not None and f.shape[1] != n_vertices:
            raise GenofaceError(f"faces have {f.shape[1]} vertices; this ShapePCA was fitted on {n_vertices}")
        if not np.isfinite(f).all():
            raise GenofaceError("faces contain NaN or infinite coordinates")
        return f

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise GenofaceError("this ShapePCA is not fitted yet: call fit(faces) first")

    def fit(self, faces: np.ndarray) -> ShapePCA:
        """Learn the mean and principal axes of ``faces`` (n, V, 3); returns self."""
        self._check_params()
        f = self._check_faces(faces)
        n, v = f.shape[:2]
        if n < 2:
            raise GenofaceError(f"ShapePCA needs at least 2 faces, got {n}")
        x = f.reshape(n, 3 * v)
        mean = x.mean(axis=0)
        xc = x - mean
        total = float((xc**2).sum() / (n - 1))
        if total <= 0:
            raise GenofaceError("all faces are identical: there is no shape variance to decompose")
        k = self.n_components
        wanted = int(k) if isinstance(k, numbers.Integral) else (_RANDOMIZED_MAX_COMPONENTS if k is not None else None)
        var, vt = _principal_axes(xc, wanted)
        if k is not None and not isinstance(k, numbers.Integral) and var.sum() / (n - 1) < float(k) * total:
            var, vt = _principal_axes(xc)  # the fraction needs more components than computed
        var = var / (n - 1)
        # Drop numerically null directions (rank is at most n - 1 after centring).
        rank = int((var > var[0] * 1e-10).sum())
        var, vt = var[:rank], vt[:rank]
        if k is None:
            keep = rank
        elif isinstance(k, numbers.Integral):
            if k > rank:
                raise GenofaceError(f"n_components={k} but {n} faces span only {rank} dimensions; use at most {rank}")
            keep = int(k)
        else:
            keep = int(np.searchsorted(np.cumsum(var) / total, float(k) - 1e-12) + 1)
            keep = min(keep, rank)
        comps = vt[:keep]
        signs = np.sign(comps[np.arange(keep), np.abs(comps).argmax(axis=1)])
        comps = comps * signs[:, None]
        self.mean_ = mean.reshape(v, 3)
        self.components_ = comps
        self.explained_variance_ = var[:keep]
        self.explained_variance_ratio_ = var[:keep] / total
        self.total_variance_ = total
        self.n_components_ = keep
        self.n_vertices_ = v
        return self

    def transform(self, faces: np.ndarray) -> np.ndarray:
        """Scores (n, K) of ``faces`` (n, V, 3) on the principal axes (mm, not whitened)."""
        self._check_fitted()
        f = self._check_faces(faces, self.n_vertices_)
        return (f.reshape(f.shape[0], -1) - self.mean_.reshape(-1)) @ self.components_.T

    def fit_transform(self, faces: np.ndarray) -> np.ndarray:
        return self.fit(faces).transform(faces)

    def inverse_transform(self, scores: np.ndarray) -> np.ndarray:
        """Faces (n, V, 3) from scores (n, K') with K' <= K (missing trailing scores are 0)."""
        self._check_fitted()
        b = np.atleast_2d(np.asarray(scores, dtype=np.float64))
        if b.ndim != 2 or b.shape[1] > self.n_components_:
            raise GenofaceError(f"scores must be (n, K <= {self.n_components_}), got shape {b.shape}")
        x = self.mean_.reshape(-1) + b @ self.components_[: b.shape[1]]
        return x.reshape(b.shape[0], self.n_vertices_, 3)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as a plain dict of arrays (for ``np.savez``; no pickle needed)."""
        self._check_fitted()
        return {
            "mean": self.mean_.copy(),
            "components": self.components_.copy(),
            "explained_variance": self.explained_variance_.copy(),
            "explained_variance_ratio": self.explained_variance_ratio_.copy(),
            "total_variance": np.asarray(self.total_variance_, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays) -> ShapePCA:
        """A fitted ShapePCA from :meth:`to_arrays` output (or an ``np.load`` of it)."""
        missing = [k for k in _ARRAY_KEYS if k not in arrays]
        if missing:
            raise GenofaceError(f"ShapePCA arrays lack {', '.join(missing)}")
        mean = np.asarray(arrays["mean"], dtype=np.float64)
        comps = np.asarray(arrays["components"], dtype=np.float64)
        if mean.ndim != 2 or mean.shape[1] != 3 or comps.ndim != 2 or comps.shape[1] != mean.size:
            raise GenofaceError(f"ShapePCA arrays: mean {mean.shape} and components {comps.shape} do not match")
        pca = cls(n_components=int(comps.shape[0]))
        pca.mean_ = mean
        pca.components_ = comps
        pca.explained_variance_ = np.asarray(arrays["explained_variance"], dtype=np.float64)
        pca.explained_variance_ratio_ = np.asarray(arrays["explained_variance_ratio"], dtype=np.float64)
        pca.total_variance_ = float(np.asarray(arrays["total_variance"]))
        pca.n_components_ = int(comps.shape[0])
        pca.n_vertices_ = int(mean.shape[0])
        return pca

    def __repr__(self) -> str:
        return f"ShapePCA(n_components={self.n_components!r})"
