"""The shape space that faces live in: a mean mesh, an orthonormal PCA basis and its variances.

A face is ``mean + (basis @ (b * sqrt(eigenvalues))).reshape(-1, 3)`` for standardized
coefficients ``b``; the basis rows are ordered x0, y0, z0, x1, ... as in the Surrey Face Model.
Units are millimetres; x points to the subject's left, y up, z towards the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genoface.core.errors import GenofaceError

#: Facial regions, in the order used by :attr:`ShapeModel.regions` (index into this tuple).
REGION_NAMES: tuple[str, ...] = ("nose", "eyes", "mouth", "chin", "cheeks", "forehead")

#: Named landmarks every shape model provides (anthropometric names; ``_l`` is the subject's
#: left, i.e. positive x). Used for regions, calibration and reports.
LANDMARK_NAMES: tuple[str, ...] = (
    "nasion",
    "pronasale",
    "subnasale",
    "alare_l",
    "alare_r",
    "endocanthion_l",
    "endocanthion_r",
    "exocanthion_l",
    "exocanthion_r",
    "cheilion_l",
    "cheilion_r",
    "labiale_superius",
    "labiale_inferius",
    "gnathion",
    "brow_l",
    "brow_r",
)


@dataclass(frozen=True, eq=False)
class ShapeModel:
    """A PCA face shape space on a fixed template mesh.

    Attributes
    ----------
    name : short identifier ("builtin", "sfm", ...), recorded in cohort metadata.
    mean : (V, 3) float64, the mean face in mm.
    basis : (3V, K) float64, orthonormal columns; rows ordered x0, y0, z0, x1, ...
    eigenvalues : (K,) float64, variance (mm^2) of each component, decreasing.
    triangles : (T, 3) int64, 0-based vertex indices, counter-clockwise seen from the front.
    regions : (V,) int8, index into :data:`REGION_NAMES`, -1 for vertices in no region.
    landmarks : vertex id of each name in :data:`LANDMARK_NAMES`.
    description : where the model comes from and its licence.
    """

    name: str
    mean: np.ndarray
    basis: np.ndarray
    eigenvalues: np.ndarray
    triangles: np.ndarray
    regions: np.ndarray
    landmarks: dict[str, int] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        v = self.mean.shape[0]
        if self.mean.shape != (v, 3):
            raise GenofaceError(f"shape model {self.name!r}: mean must be (V, 3), got {self.mean.shape}")
        if self.basis.ndim != 2 or self.basis.shape[0] != 3 * v:
            raise GenofaceError(f"shape model {self.name!r}: basis must be (3V={3 * v}, K), got {self.basis.shape}")
        if self.eigenvalues.shape != (self.basis.shape[1],):
            raise GenofaceError(
                f"shape model {self.name!r}: {self.eigenvalues.shape[0]} eigenvalues for "
                f"{self.basis.shape[1]} basis columns"
            )
        if self.regions.shape != (v,):
            raise GenofaceError(f"shape model {self.name!r}: regions must have one label per vertex")
        missing = [n for n in LANDMARK_NAMES if n not in self.landmarks]
        if missing:
            raise GenofaceError(f"shape model {self.name!r} lacks landmarks: {', '.join(missing)}")

    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_components(self) -> int:
        return int(self.basis.shape[1])

    @property
    def total_variance(self) -> float:
        """Total shape variance (mm^2): the trace of the coordinate covariance."""
        return float(self.eigenvalues.sum())

    @property
    def scaled_basis(self) -> np.ndarray:
        """(3V, K) basis columns scaled by the standard deviation of their component."""
        return self.basis * np.sqrt(self.eigenvalues)[None, :]

    def reconstruct(self, coefficients: np.ndarray) -> np.ndarray:
        """Faces (n, V, 3) from standardized coefficients (n, K') with K' <= K."""
        b = np.atleast_2d(np.asarray(coefficients, dtype=np.float64))
        k = b.shape[1]
        if k > self.n_components:
            raise GenofaceError(f"{k} coefficients for a shape model with {self.n_components}")
        offsets = b @ self.scaled_basis[:, :k].T
        return self.mean[None] + offsets.reshape(b.shape[0], self.n_vertices, 3)

    def project(self, faces: np.ndarray) -> np.ndarray:
        """Standardized coefficients (n, K) of faces (n, V, 3) (least squares; basis is orthonormal)."""
        faces = np.asarray(faces, dtype=np.float64)
        if faces.ndim == 2:
            faces = faces[None]
        if faces.shape[1:] != self.mean.shape:
            raise GenofaceError(
                f"faces have {faces.shape[1]} vertices; the shape model {self.name!r} has {self.n_vertices}"
            )
        centred = (faces - self.mean[None]).reshape(faces.shape[0], -1)
        return (centred @ self.basis) / np.sqrt(self.eigenvalues)[None, :]

    def region_mask(self, name: str) -> np.ndarray:
        """Boolean (V,) mask of the vertices in region ``name``."""
        if name not in REGION_NAMES:
            raise GenofaceError(f"unknown facial region {name!r}; choose one of {', '.join(REGION_NAMES)}")
        return self.regions == REGION_NAMES.index(name)

    def landmark_positions(self, faces: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Landmark coordinates on the mean face, or on each of ``faces`` (n, V, 3)."""
        src = self.mean if faces is None else faces
        return {n: src[..., i, :] for n, i in self.landmarks.items()}
