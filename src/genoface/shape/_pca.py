"""A PCA shape space learned from faces (n, V, 3) that share one template.

Scikit-learn style: hyper-parameters in ``__init__``, learned state in attributes ending in
``_``. The decomposition is the SVD of the centred (n, 3V) data, computed through the
eigendecomposition of the smaller of its two Gram matrices (n x n or 3V x 3V): exact, and far
faster than a direct SVD of wide face data (2,000 SFM faces: ~5 s instead of ~70 s on two
cores). The price is precision on tiny variances (relative to the largest, below ~1e-10),
which are treated as zero. Coordinates are flattened x0, y0, z0, x1, ... as in
:class:`~genoface.shape.ShapeModel`.

Faces too many to widen to float64 at once (100,000 faces of the built-in template are 12 GB
in float64; a cohort's ``faces.npy`` is memory-mapped float32) are read a block of faces at a
time: the fit is then the same randomized SVD as the in-memory one, run over blocks, and
``transform`` scores a block at a time, so memory is one block plus (n, k + 20). Saving goes through :meth:`ShapePCA.to_arrays`, a plain
dict of NumPy arrays (write it with ``np.savez``; no pickle).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np
from sklearn.utils.extmath import randomized_svd

from genoface.core.errors import GenofaceError
from genoface.core.linalg import randomized_svd_by_products

_ARRAY_KEYS = ("mean", "components", "explained_variance", "explained_variance_ratio", "total_variance")


# Above this many faces a truncated fit uses randomized SVD (Halko et al.): the exact
# eigendecomposition of an 8,000 x 8,000 Gram matrix, and the 8,000 x 8,000 x 15,000 product
# after it, take minutes; the leading components are all the models use.
_RANDOMIZED_ABOVE = 2000
_RANDOMIZED_MAX_COMPONENTS = 400
# The randomized SVD's settings, in memory (sklearn) and streamed (here) alike.
_OVERSAMPLES, _POWER_ITERATIONS = 20, 7

# Faces whose float64 copy would be larger than this are streamed (module notes), in blocks of
# about _BLOCK_BYTES as float64.
_STREAM_ABOVE_BYTES = 1 << 30
_BLOCK_BYTES = 1 << 27


def _principal_axes(xc: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Squared singular values (r,) and right singular vectors (r, D) of ``xc`` (n, D), decreasing;
    only the leading ``k`` (randomized, seeded) when k is given and small against the data."""
    n, d = xc.shape
    if k is not None and min(n, d) > _RANDOMIZED_ABOVE and k <= _RANDOMIZED_MAX_COMPONENTS:
        _, s, vt = randomized_svd(xc, k, n_oversamples=_OVERSAMPLES, n_iter=_POWER_ITERATIONS, random_state=0)
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


class _StreamedFaces:
    """Centred face rows (n, D) read a block of faces at a time, as float64; products with them.

    The faces are read where they lie, in this process (Dask's ``svd_compressed`` would ship
    memory-mapped blocks to a cluster's workers)."""

    def __init__(self, faces: np.ndarray, batch_size: int, mean: np.ndarray | None = None):
        self.faces, self.batch_size = faces, int(batch_size)
        self.n, self.d = faces.shape[0], faces.shape[1] * 3
        self.mean = np.zeros(self.d) if mean is None else mean
        if mean is None:
            self.mean = sum(x.sum(axis=0) for _, x in self.blocks(centred=False)) / self.n

    def blocks(self, centred: bool = True) -> Iterator[tuple[slice, np.ndarray]]:
        for i in range(0, self.n, self.batch_size):
            rows = slice(i, min(i + self.batch_size, self.n))
            x = np.asarray(self.faces[rows], dtype=np.float64).reshape(-1, self.d)
            if not np.isfinite(x).all():
                raise GenofaceError(f"faces contain NaN or infinite coordinates (faces {rows.start}-{rows.stop - 1})")
            yield rows, (x - self.mean if centred else x)

    def total_variance(self) -> float:
        return float(sum((x**2).sum() for _, x in self.blocks()) / (self.n - 1))

    def times(self, m: np.ndarray) -> np.ndarray:
        """X @ m, (n, columns of m)."""
        out = np.empty((self.n, m.shape[1]))
        for rows, x in self.blocks():
            out[rows] = x @ m
        return out

    def t_times(self, m: np.ndarray) -> np.ndarray:
        """X.T @ m, (D, columns of m)."""
        out = np.zeros((self.d, m.shape[1]))
        for rows, x in self.blocks():
            out += x.T @ m[rows]
        return out

    def principal_axes(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The leading k squared singular values and right singular vectors: sklearn's
        randomized SVD (as :func:`_principal_axes` runs it in memory), a pass per product."""
        _, s, vt = randomized_svd_by_products(
            self.times, self.t_times, (self.n, self.d), k, n_iter=_POWER_ITERATIONS, n_oversamples=_OVERSAMPLES
        )
        return s**2, vt


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

    def __init__(self, n_components: int | float | None = None, batch_size: int | None = None):
        self.n_components = n_components
        self.batch_size = batch_size

    def _check_params(self) -> None:
        b = self.batch_size
        if b is not None and (not isinstance(b, numbers.Integral) or isinstance(b, bool) or b < 1):
            raise GenofaceError(f"batch_size={b!r}: use None (automatic) or an int >= 1 (faces per block)")
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
    def _check_shape(faces, n_vertices: int | None = None):
        """``faces`` as (n, V, 3), not copied (a memory map stays one)."""
        f = faces if hasattr(faces, "ndim") and hasattr(faces, "dtype") else np.asarray(faces, dtype=np.float64)
        if f.ndim == 2 and f.shape[1] == 3 and n_vertices is not None:
            f = f[None]
        if f.ndim != 3 or f.shape[2] != 3:
            raise GenofaceError(f"faces must be (n, V, 3), got shape {f.shape}")
        if n_vertices is not None and f.shape[1] != n_vertices:
            raise GenofaceError(f"faces have {f.shape[1]} vertices; this ShapePCA was fitted on {n_vertices}")
        return f

    def _batch(self, faces) -> int | None:
        """Faces per block when ``faces`` are streamed; None to widen them whole."""
        if self.batch_size is not None:
            return int(self.batch_size)
        row_bytes = 24 * faces.shape[1]
        if faces.shape[0] * row_bytes <= _STREAM_ABOVE_BYTES:
            return None
        return max(1, _BLOCK_BYTES // row_bytes)

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise GenofaceError("this ShapePCA is not fitted yet: call fit(faces) first")

    def fit(self, faces: np.ndarray) -> ShapePCA:
        """Learn the mean and principal axes of ``faces`` (n, V, 3); returns self."""
        self._check_params()
        f = self._check_shape(faces)
        n, v = f.shape[:2]
        if n < 2:
            raise GenofaceError(f"ShapePCA needs at least 2 faces, got {n}")
        batch = self._batch(f)
        if batch is None:
            data = _StreamedFaces(f, n)  # one block: the in-memory route below
            ((_, xc),) = data.blocks()
        else:
            data, xc = _StreamedFaces(f, batch), None
        total = data.total_variance() if xc is None else float((xc**2).sum() / (n - 1))
        if total <= 0:
            raise GenofaceError("all faces are identical: there is no shape variance to decompose")
        var, vt = self._axes(data, xc, total)
        var = var / (n - 1)
        # Drop numerically null directions (rank is at most n - 1 after centring).
        rank = int((var > var[0] * 1e-10).sum())
        keep = self._kept(var[:rank], total, n)
        comps = vt[:keep]
        signs = np.sign(comps[np.arange(keep), np.abs(comps).argmax(axis=1)])
        self.mean_ = data.mean.reshape(v, 3)
        self.components_ = comps * signs[:, None]
        self.explained_variance_ = var[:keep]
        self.explained_variance_ratio_ = var[:keep] / total
        self.total_variance_ = total
        self.n_components_ = keep
        self.n_vertices_ = v
        return self

    def _axes(self, data: _StreamedFaces, xc: np.ndarray | None, total: float) -> tuple[np.ndarray, np.ndarray]:
        """Squared singular values and axes: of ``xc`` in memory, else of the streamed faces."""
        k, n = self.n_components, data.n
        wanted = int(k) if isinstance(k, numbers.Integral) else (_RANDOMIZED_MAX_COMPONENTS if k is not None else None)
        if xc is None and (wanted is None or wanted > _RANDOMIZED_MAX_COMPONENTS):
            raise GenofaceError(
                f"n_components={k!r} on {n} faces read block by block: streaming keeps at most "
                f"{_RANDOMIZED_MAX_COMPONENTS} components; give an int or a variance fraction"
            )
        var, vt = _principal_axes(xc, wanted) if xc is not None else data.principal_axes(wanted)
        if k is not None and not isinstance(k, numbers.Integral) and var.sum() / (n - 1) < float(k) * total:
            if xc is None:
                raise GenofaceError(
                    f"n_components={k}: {_RANDOMIZED_MAX_COMPONENTS} components of these {n} faces do not "
                    "reach that variance fraction; give an int, or a smaller fraction"
                )
            var, vt = _principal_axes(xc)  # the fraction needs more components than computed
        return var, vt

    def _kept(self, var: np.ndarray, total: float, n: int) -> int:
        """How many components ``n_components`` keeps of the ``len(var)`` non-null ones."""
        k, rank = self.n_components, len(var)
        if k is None:
            return rank
        if isinstance(k, numbers.Integral):
            if k > rank:
                raise GenofaceError(f"n_components={k} but {n} faces span only {rank} dimensions; use at most {rank}")
            return int(k)
        return min(int(np.searchsorted(np.cumsum(var) / total, float(k) - 1e-12) + 1), rank)

    def transform(self, faces: np.ndarray) -> np.ndarray:
        """Scores (n, K) of ``faces`` (n, V, 3) on the principal axes (mm, not whitened)."""
        self._check_fitted()
        f = self._check_shape(faces, self.n_vertices_)
        data = _StreamedFaces(f, self._batch(f) or max(len(f), 1), mean=self.mean_.reshape(-1))
        out = np.empty((len(f), self.n_components_))
        for rows, x in data.blocks():
            out[rows] = x @ self.components_.T
        return out

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
