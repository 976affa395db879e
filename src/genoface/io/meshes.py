"""Face meshes (PLY, OBJ) to and from arrays, keeping the vertex order exactly.

All faces of a cohort share the template's vertex order (DESIGN "Units and axes"), so a reader
that merges, drops or reorders vertices would silently scramble correspondences: trimesh is
called with ``process=False`` and, for OBJ, ``maintain_order=True``, and OBJ vertex counts are
checked against the file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from genoface.core.errors import GenofaceError

log = logging.getLogger(__name__)

#: File suffixes accepted for meshes.
MESH_SUFFIXES = (".ply", ".obj")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def read_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, triangles (T, 3) int64) of a PLY or OBJ file, vertex order kept.

    A file with vertices only (a point set) gives (0, 3) triangles.
    """
    import trimesh

    path = _existing(path)
    try:
        loaded = trimesh.load(path, process=False, maintain_order=True, skip_materials=True)
    except Exception as e:  # trimesh raises many types for malformed files
        raise GenofaceError(
            f"{path}: not a readable mesh ({type(e).__name__}: {e}); re-export it as PLY or OBJ"
        ) from None
    if isinstance(loaded, trimesh.Scene):
        geoms = list(loaded.geometry.values())
        if len(geoms) != 1:
            raise GenofaceError(f"{path}: holds {len(geoms)} meshes; export the face as one mesh")
        loaded = geoms[0]
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = getattr(loaded, "faces", None)
    triangles = (
        np.zeros((0, 3), dtype=np.int64) if faces is None or len(faces) == 0 else np.asarray(faces, dtype=np.int64)
    )
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise GenofaceError(f"{path}: no vertices; a face mesh needs (V, 3) vertex coordinates")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise GenofaceError(f"{path}: faces are not triangles (shape {triangles.shape}); triangulate the mesh")
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        bad = int(np.flatnonzero(((triangles < 0) | (triangles >= len(vertices))).any(axis=1))[0])
        raise GenofaceError(
            f"{path}: face {bad + 1} refers to vertex index {_bad_index(triangles[bad], len(vertices))} (counting "
            f"from 0) but the mesh has {len(vertices)} vertices; export the mesh again"
        )
    if path.suffix.lower() == ".obj":
        n_lines = _count_obj_vertices(path)
        if n_lines != len(vertices):
            # trimesh drops unreferenced vertices of an OBJ with texture coordinates even with
            # maintain_order=True; the face would then no longer match the template.
            raise GenofaceError(
                f"{path}: has {n_lines} vertices but {len(vertices)} could be read in order "
                "(unreferenced vertices with texture coordinates); export it as PLY"
            )
    _check_finite(vertices, path)
    return vertices, triangles


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, triangles: np.ndarray | None = None) -> Path:
    """Write a binary little-endian PLY (float32 vertices, int32 triangles) through trimesh."""
    import trimesh

    path = Path(path)
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.zeros((0, 3), dtype=np.int64) if triangles is None else np.asarray(triangles, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise GenofaceError(f"{path}: vertices must have shape (V, 3), got {vertices.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise GenofaceError(f"{path}: triangles must have shape (T, 3), got {triangles.shape}")
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        raise GenofaceError(
            f"{path}: triangle indices must lie in [0, {len(vertices)}), got [{triangles.min()}, {triangles.max()}]"
        )
    _check_finite(vertices, path)
    if path.suffix.lower() != ".ply":
        raise GenofaceError(f"{path}: genoface writes meshes as .ply; change the file name")
    mesh = trimesh.Trimesh(vertices=vertices, faces=triangles, process=False)
    path.write_bytes(mesh.export(file_type="ply", encoding="binary"))
    return path


def read_mesh_vertices(
    paths: Sequence[str | os.PathLike],
    *,
    n_vertices: int | None = None,
    out: np.ndarray | None = None,
    n_workers: int | None = None,
) -> np.ndarray:
    """Vertices of many meshes as one (N, V, 3) float32 array, in the order of ``paths``.

    Every mesh must have ``n_vertices`` vertices (default: as many as the first). ``out`` may be
    a preallocated (N, V, 3) array to fill. Binary little-endian PLY, the format genoface
    writes, is read directly with NumPy (about 20x faster than trimesh, which builds a whole
    mesh object per file: 10,000 faces would take ~40 s); any other file goes through
    :func:`read_mesh`. Files are read by a thread pool, as the work is mostly I/O.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise GenofaceError("no mesh files to read")
    if n_vertices is None:
        n_vertices = len(_read_vertices(paths[0]))
    if out is None:
        out = np.empty((len(paths), n_vertices, 3), dtype=np.float32)
    elif out.shape != (len(paths), n_vertices, 3):
        raise GenofaceError(f"output array has shape {out.shape}, expected {(len(paths), n_vertices, 3)}")

    def load(i: int) -> None:
        v = _read_vertices(paths[i])
        if len(v) != n_vertices:
            raise GenofaceError(
                f"{paths[i]}: has {len(v)} vertices but the template has {n_vertices}; "
                "register the face to the template so every face has the same vertices in the same order"
            )
        out[i] = v

    workers = n_workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(load, range(len(paths))):
            pass
    return out


# ---- helpers --------------------------------------------------------------------------------------


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise GenofaceError(f"{path}: no such mesh file")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise GenofaceError(f"{path}: unknown mesh format {path.suffix!r}; use .ply or .obj")
    return path


def _bad_index(triangle: np.ndarray, n_vertices: int) -> int:
    """The first out-of-range vertex index of a triangle."""
    return int(next(v for v in triangle if v < 0 or v >= n_vertices))


def _check_finite(vertices: np.ndarray, path: Path) -> None:
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        raise GenofaceError(
            f"{path}: {int(bad.sum())} vertices have NaN or infinite coordinates (first: vertex {int(np.argmax(bad))}); "
            "fix or re-register the face"
        )


def _count_obj_vertices(path: Path) -> int:
    return len(re.findall(rb"^v\s", path.read_bytes(), flags=re.MULTILINE))


def _read_vertices(path: Path) -> np.ndarray:
    """(V, 3) vertices of one mesh: the binary PLY fast path, else :func:`read_mesh`."""
    path = _existing(path)
    v = _read_binary_ply_vertices(path) if path.suffix.lower() == ".ply" else None
    if v is None:
        v, _ = read_mesh(path)
    else:
        _check_finite(v, path)
    return v


def _read_binary_ply_vertices(path: Path) -> np.ndarray | None:
    """x, y, z of a binary little-endian PLY whose first element is ``vertex`` with scalar
    properties only; None for any other layout (then trimesh reads it)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
        if not head.startswith(b"ply"):
            return None
        end = head.find(b"end_header")
        if end < 0:
            return None
        body = end + len(b"end_header")
        body += 2 if head[body : body + 2] == b"\r\n" else 1 if head[body : body + 1] in (b"\n", b"\r") else 0
        if body == end + len(b"end_header"):
            return None  # "end_header" without its line end: let trimesh judge
        lines = head[:end].decode("ascii", errors="replace").splitlines()
        if "format binary_little_endian 1.0" not in (ln.strip() for ln in lines):
            return None
        elements = [ln.split() for ln in lines if ln.startswith(("element ", "property "))]
        if not elements or elements[0][:2] != ["element", "vertex"] or len(elements[0]) != 3:
            return None
        try:
            n = int(elements[0][2])
        except ValueError:
            raise GenofaceError(
                f"{path}: the PLY header gives {elements[0][2]!r} vertices; write the file again"
            ) from None
        if n < 0:
            raise GenofaceError(f"{path}: the PLY header gives {n} vertices; write the file again")
        fields = []
        for tok in elements[1:]:
            if tok[0] == "element":
                break
            if len(tok) != 3 or tok[1] not in _PLY_TYPES:  # list properties: not a fixed stride
                return None
            fields.append((tok[2], "<" + _PLY_TYPES[tok[1]]))
        names = [f[0] for f in fields]
        if not {"x", "y", "z"} <= set(names) or len(set(names)) != len(names):
            return None
        dtype = np.dtype(fields)
        size = n * dtype.itemsize
        available = os.fstat(fh.fileno()).st_size - body
        if size > available:  # checked before reading: a damaged count must not allocate terabytes
            raise GenofaceError(
                f"{path}: truncated PLY ({max(available, 0):,} of {size:,} vertex bytes); write the file again"
            )
        fh.seek(body)
        data = fh.read(size)
    if len(data) != size:
        raise GenofaceError(f"{path}: truncated PLY ({len(data)} of {size} vertex bytes); write the file again")
    rec = np.frombuffer(data, dtype=dtype)
    return np.stack([rec["x"], rec["y"], rec["z"]], axis=1)


# ---- many faces in one array file ------------------------------------------------------------------

#: People read at a time when checking a faces array (about 64 MB of float32 at 5,000 vertices).
_FACE_ROWS = 1024


class FaceArrayWriter:
    """``faces.npy`` (n, V, 3) float32 written a block of people at a time: the header first,
    then each block appended, so a cohort's faces need never be held whole in memory (100,000
    faces of 5,000 vertices are 6 GB). Plain writes, not a memory map, so the pages written do
    not stay in the writer's resident memory. Use as a context manager; leaving it before all
    n faces were written is an error and removes the file."""

    def __init__(self, path: str | os.PathLike, n: int, n_vertices: int) -> None:
        self.path, self.shape, self.done = Path(path), (int(n), int(n_vertices), 3), 0
        self._fh = open(self.path, "wb")  # noqa: SIM115 (closed by __exit__)
        header = {"descr": "<f4", "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def write(self, faces: np.ndarray) -> None:
        """Append the faces (k, V, 3) of the next k people."""
        faces = np.ascontiguousarray(faces, dtype="<f4")
        if faces.shape[1:] != self.shape[1:] or self.done + len(faces) > self.shape[0]:
            raise GenofaceError(f"{self.path}: faces of shape {faces.shape} do not fit {self.shape} after {self.done}")
        self._fh.write(faces.data)
        self.done += len(faces)

    def __enter__(self) -> FaceArrayWriter:
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._fh.close()
        if error is None and self.done != self.shape[0]:
            self.path.unlink(missing_ok=True)
            raise GenofaceError(f"{self.path}: {self.done} of {self.shape[0]} faces written")
        if error is not None:
            self.path.unlink(missing_ok=True)


def write_face_array(path: str | os.PathLike, faces: np.ndarray) -> Path:
    """Write (n, V, 3) faces (an array or a memory map) to ``faces.npy``, a block at a time."""
    with FaceArrayWriter(path, faces.shape[0], faces.shape[1]) as out:
        for i0 in range(0, len(faces), _FACE_ROWS):
            out.write(faces[i0 : i0 + _FACE_ROWS])
    return Path(path)


def read_face_array(path: str | os.PathLike, n: int, n_vertices: int) -> np.ndarray:
    """The faces of ``faces.npy`` as a read-only memory map (n, V, 3) float32, after checking
    its shape, type and that every coordinate is finite (read a block at a time with plain
    reads, so checking does not fill the reader's resident memory)."""
    p = Path(path)
    if not p.is_file():
        raise GenofaceError(f"{p}: no such file")
    try:
        faces = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise GenofaceError(f"{p}: not a NumPy .npy array ({e}); save the faces with numpy.save") from None
    if faces.dtype != np.float32 or faces.shape != (n, n_vertices, 3):
        raise GenofaceError(
            f"{p}: holds {faces.dtype} of shape {faces.shape}; expected float32 ({n} people, {n_vertices} template "
            "vertices, 3) in the genotype file's sample order"
        )
    row = n_vertices * 3
    with open(p, "rb") as fh:
        fh.seek(faces.offset)
        for i0 in range(0, n, _FACE_ROWS):
            block = np.fromfile(fh, dtype=faces.dtype, count=min(_FACE_ROWS, n - i0) * row)
            bad = ~np.isfinite(block)
            if bad.any():
                person = i0 + int(np.flatnonzero(bad)[0]) // row
                raise GenofaceError(f"{p}: face {person} (0-based, in sample order) has a NaN or infinite coordinate")
    return faces
