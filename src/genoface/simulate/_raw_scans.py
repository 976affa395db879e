"""Raw 3D scans simulated from known faces, to test registration where no real scan can ship.

A registered face (template topology, mm) becomes what a 3dMD or Vectra export looks like: a
surface band the template lacks (the sides of the head, ears and neck), another mesh of another
vertex count and order (subdivided, then decimated), surface noise, holes at the eyes and
nostrils, and its own pose and units. The true correspondence stays known: a registration
mapped back through :attr:`RawScan.pose` is compared vertex by vertex with the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.shape import UNIT_MM


@dataclass(frozen=True)
class RawScan:
    """A simulated raw scan and what it was made from.

    Attributes
    ----------
    vertices, triangles : the scan mesh, in the scan's own pose and ``units``.
    landmarks : named landmark positions on the scan (same pose and units), with annotation noise.
    rotation, translation : the pose: ``scan_mm = face @ rotation.T + translation``.
    units : the scan's length unit ("mm", "cm" or "m").
    """

    vertices: np.ndarray
    triangles: np.ndarray
    landmarks: dict[str, np.ndarray]
    rotation: np.ndarray
    translation: np.ndarray
    units: str

    def to_face_frame(self, points_mm: np.ndarray) -> np.ndarray:
        """Points given in the scan's pose (in mm) mapped back to the face's frame."""
        return (np.asarray(points_mm, dtype=np.float64) - self.translation) @ self.rotation


def simulate_raw_scan(
    face: np.ndarray,
    triangles: np.ndarray,
    landmarks: dict[str, int],
    rng: np.random.Generator,
    *,
    n_vertices: int | None = None,
    noise_mm: float = 0.2,
    landmark_noise_mm: float = 0.5,
    units: str = "cm",
    skirt_mm: float = 30.0,
) -> RawScan:
    """A raw scan of ``face`` (V, 3, mm): skirt, re-mesh, noise, holes, random pose, ``units``.

    ``n_vertices`` is the scan's vertex count after decimation (default 3 V); ``landmarks`` maps
    names (at least the eyes', nose's and mouth's, see :data:`genoface.shape.LANDMARK_NAMES`) to
    vertex ids of ``face``.
    """
    import trimesh

    if units not in UNIT_MM:
        raise GenofaceError(f"unknown scan unit {units!r}; choose one of {', '.join(UNIT_MM)}")
    face = np.asarray(face, dtype=np.float64)
    verts, tris = _add_skirt(face, np.asarray(triangles, dtype=np.int64), skirt_mm)
    verts, tris = _remesh(verts, tris, n_vertices or 3 * len(face))
    mesh = trimesh.Trimesh(verts, tris, process=False)
    verts = verts + mesh.vertex_normals * rng.normal(0.0, noise_mm, size=(len(verts), 1))
    tris = _cut_holes(verts, tris, {k: face[i] for k, i in landmarks.items()})
    verts, tris = _drop_unused(verts, tris)
    rotation = _random_rotation(rng)
    translation = rng.uniform(-150.0, 150.0, size=3)
    scale = 1.0 / UNIT_MM[units]
    posed = (verts @ rotation.T + translation) * scale
    marks = {
        k: ((face[i] + rng.normal(0.0, landmark_noise_mm, 3)) @ rotation.T + translation) * scale
        for k, i in landmarks.items()
    }
    return RawScan(posed, tris, marks, rotation, translation, units)


def out_of_model_deformation(
    face: np.ndarray,
    triangles: np.ndarray,
    rng: np.random.Generator,
    *,
    amplitude_mm: float = 1.5,
    n_bumps: int = 12,
    width_mm: float = 20.0,
) -> np.ndarray:
    """``face`` with smooth bumps and dents along its normals (Gaussian, ``width_mm`` wide,
    heights drawn with standard deviation ``amplitude_mm``) at random vertices.

    No shape model spans them, so a registration that leans on a model's prior is tested on
    what real faces have: shape outside the model.
    """
    import trimesh

    face = np.asarray(face, dtype=np.float64)
    normals = trimesh.Trimesh(face, triangles, process=False).vertex_normals
    centres = face[rng.choice(len(face), size=n_bumps, replace=False)]
    heights = rng.normal(0.0, amplitude_mm, size=n_bumps)
    d2 = ((face[:, None, :] - centres[None]) ** 2).sum(axis=2)
    field = (np.exp(-d2 / (2 * width_mm**2)) * heights).sum(axis=1)
    return face + normals * field[:, None]


def _boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Ordered vertex loops of the mesh boundary (edges used by one triangle), longest first."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    boundary = edges[counts[inverse.ravel()] == 1]
    following = dict(zip(boundary[:, 0].tolist(), boundary[:, 1].tolist(), strict=True))
    loops = []
    while following:
        start, loop = next(iter(following)), []
        v = start
        while v in following:
            loop.append(v)
            v = following.pop(v)
        loops.append(np.asarray(loop))
    return sorted(loops, key=len, reverse=True)


def _add_skirt(face: np.ndarray, triangles: np.ndarray, width_mm: float, n_rings: int = 4):
    """The face with a band of surface swept outwards and backwards from its outline.

    It stands for what a scan holds and the template does not: the sides of the head, the ears
    and the neck. The band starts at the outline, so it joins the face without a seam.
    """
    loop = _boundary_loops(triangles)[0]
    rim = face[loop]
    radial = rim[:, :2] - face[:, :2].mean(axis=0)
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    direction = np.column_stack([0.6 * radial, -np.ones(len(loop))])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    step = width_mm / n_rings
    rings = [loop] + [len(face) + k * len(loop) + np.arange(len(loop)) for k in range(n_rings)]
    new_points = [rim + (k + 1) * step * direction for k in range(n_rings)]
    quads = []
    for inner, outer in zip(rings[:-1], rings[1:], strict=True):
        a, b = inner, np.roll(inner, -1)
        c, d = outer, np.roll(outer, -1)
        # The boundary runs a -> b in the face's triangles; the band's triangles run b -> a.
        quads += [np.column_stack([b, a, c]), np.column_stack([b, c, d])]
    return np.vstack([face, *new_points]), np.vstack([triangles, *quads])


def _remesh(vertices: np.ndarray, triangles: np.ndarray, n_vertices: int):
    """Another mesh of the same surface: subdivided until dense enough, then decimated."""
    import fast_simplification
    import trimesh

    while len(vertices) < 2 * n_vertices:
        vertices, triangles = trimesh.remesh.subdivide(vertices, triangles)
    # A decimated mesh has about half as many vertices as triangles.
    points, faces = fast_simplification.simplify(
        vertices.astype(np.float32), triangles.astype(np.int32), target_count=2 * n_vertices
    )
    return _drop_unused(np.asarray(points, dtype=np.float64), np.asarray(faces, dtype=np.int64))


def _cut_holes(vertices: np.ndarray, triangles: np.ndarray, marks: dict[str, np.ndarray]) -> np.ndarray:
    """Triangles kept after opening holes where scanners lose the surface: eyes and nostrils."""
    centres, radii = [], []
    for side in ("l", "r"):
        inner, outer = marks[f"endocanthion_{side}"], marks[f"exocanthion_{side}"]
        centres.append((inner + outer) / 2)
        radii.append(0.3 * np.linalg.norm(outer - inner))
        nostril = (marks["subnasale"] + marks[f"alare_{side}"]) / 2
        centres.append(nostril)
        radii.append(0.25 * np.linalg.norm(marks[f"alare_{side}"] - marks["subnasale"]))
    centroids = vertices[triangles].mean(axis=1)
    inside = np.zeros(len(triangles), dtype=bool)
    for c, r in zip(centres, radii, strict=True):
        inside |= np.linalg.norm(centroids - c, axis=1) < r
    return triangles[~inside]


def _drop_unused(vertices: np.ndarray, triangles: np.ndarray):
    used = np.unique(triangles)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[triangles]


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=rng).as_matrix()
