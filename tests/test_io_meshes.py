"""Mesh I/O: round trips, exact vertex order (PLY and OBJ), the bulk loader, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from genoface.core.errors import GenofaceError
from genoface.io.meshes import read_mesh, read_mesh_vertices, write_mesh


def _mesh(seed: int = 0):
    """A 42-vertex sphere whose vertices are shuffled (an order no loader would invent) and
    float32-representable, with one vertex duplicated so that merging would change the count."""
    rng = np.random.default_rng(seed)
    s = trimesh.creation.icosphere(subdivisions=1, radius=80.0)
    perm = rng.permutation(len(s.vertices))
    inv = np.argsort(perm)
    v = np.asarray(s.vertices, dtype=np.float32).astype(np.float64)[perm]
    t = inv[np.asarray(s.faces)]
    v = np.vstack([v, v[:1]])  # vertex 42 duplicates vertex 0 and is referenced by one triangle
    t[0, 0] = len(v) - 1 if t[0, 0] == 0 else t[0, 0]
    return v, t.astype(np.int64)


def _write_obj(path, v, t, *, extra: str = ""):
    lines = (
        [f"v {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in v]
        + [extra]
        + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in t]
    )
    path.write_text("\n".join(lines) + "\n")


def test_ply_round_trip_is_exact_and_ordered(tmp_path):
    v, t = _mesh()
    path = write_mesh(tmp_path / "m.ply", v, t)
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    got_v, got_t = read_mesh(path)
    assert got_v.dtype == np.float64 and got_t.dtype == np.int64
    np.testing.assert_array_equal(got_v, v)
    np.testing.assert_array_equal(got_t, t)


def test_obj_keeps_vertex_order_including_duplicates_and_unreferenced(tmp_path):
    v, t = _mesh(1)
    v = np.vstack([v, [[1.0, 2.0, 3.0]]])  # an unreferenced vertex at the end
    path = tmp_path / "m.obj"
    _write_obj(path, v, t)
    got_v, got_t = read_mesh(path)
    np.testing.assert_array_equal(got_v, v)
    np.testing.assert_array_equal(got_t, t)
    np.testing.assert_array_equal(read_mesh_vertices([path])[0], v.astype(np.float32))


def test_obj_that_trimesh_would_reorder_is_refused(tmp_path):
    # trimesh drops unreferenced vertices of an OBJ with texture coordinates: refuse, don't shift.
    path = tmp_path / "uv.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 5 5 5\nvt 0 0\nvt 1 0\nvt 0 1\nf 3/1 1/2 2/3\n")
    with pytest.raises(GenofaceError, match=r"uv\.obj: has 4 vertices but 3 could be read in order"):
        read_mesh(path)


def test_point_set_without_triangles(tmp_path):
    v, _ = _mesh(2)
    path = write_mesh(tmp_path / "p.ply", v, None)
    got_v, got_t = read_mesh(path)
    np.testing.assert_array_equal(got_v, v)
    assert got_t.shape == (0, 3)


def test_nan_and_inf_are_refused_with_the_file_name(tmp_path):
    v, t = _mesh(3)
    bad = v.copy()
    bad[5, 1] = np.nan
    with pytest.raises(GenofaceError, match=r"nan\.ply.*NaN or infinite"):
        write_mesh(tmp_path / "nan.ply", bad, t)
    # A file written by another tool with NaN in it: both the reader and the bulk loader refuse.
    trimesh.Trimesh(bad, t, process=False).export(tmp_path / "nan.ply")
    with pytest.raises(
        GenofaceError, match=r"nan\.ply: 1 vertices have NaN or infinite coordinates \(first: vertex 5\)"
    ):
        read_mesh(tmp_path / "nan.ply")
    with pytest.raises(GenofaceError, match=r"nan\.ply: 1 vertices"):
        read_mesh_vertices([tmp_path / "nan.ply"])
    bad[5, 1] = np.inf
    _write_obj(tmp_path / "inf.obj", bad, t)
    with pytest.raises(GenofaceError, match=r"inf\.obj.*NaN or infinite"):
        read_mesh(tmp_path / "inf.obj")


def test_bulk_loader_matches_trimesh_for_every_layout(tmp_path):
    meshes = [_mesh(10 + i)[0] for i in range(6)]
    t = _mesh(10)[1]
    paths = []
    for i, v in enumerate(meshes):
        if i % 3 == 0:
            paths.append(write_mesh(tmp_path / f"{i}.ply", v, t))  # fast path
        elif i % 3 == 1:
            p = tmp_path / f"{i}.ply"  # ASCII PLY: through trimesh
            p.write_bytes(trimesh.Trimesh(v, t, process=False).export(file_type="ply", encoding="ascii"))
            paths.append(p)
        else:
            _write_obj(tmp_path / f"{i}.obj", v, t)
            paths.append(tmp_path / f"{i}.obj")
    got = read_mesh_vertices(paths, n_workers=3)
    assert got.shape == (6, len(meshes[0]), 3) and got.dtype == np.float32
    for i, p in enumerate(paths):
        np.testing.assert_array_equal(got[i], read_mesh(p)[0].astype(np.float32))
        np.testing.assert_allclose(got[i], meshes[i], rtol=1e-6)


def test_bulk_loader_refuses_a_wrong_vertex_count(tmp_path):
    v, t = _mesh(4)
    good = write_mesh(tmp_path / "good.ply", v, t)
    short = write_mesh(tmp_path / "short.ply", v[:40], t[(t < 40).all(axis=1)])
    with pytest.raises(GenofaceError, match=r"short\.ply: has 40 vertices but the template has 43"):
        read_mesh_vertices([good, short])


def test_truncated_binary_ply_is_refused(tmp_path):
    v, t = _mesh(5)
    data = write_mesh(tmp_path / "m.ply", v, t).read_bytes()
    (tmp_path / "cut.ply").write_bytes(data[: data.index(b"end_header\n") + 11 + 100])
    with pytest.raises(GenofaceError, match=r"cut\.ply: truncated PLY"):
        read_mesh_vertices([tmp_path / "cut.ply"])
    with pytest.raises(GenofaceError, match=r"cut\.ply"):
        read_mesh(tmp_path / "cut.ply")


def test_missing_or_unknown_files(tmp_path):
    with pytest.raises(GenofaceError, match="no such mesh file"):
        read_mesh(tmp_path / "none.ply")
    (tmp_path / "m.stl").write_text("solid")
    with pytest.raises(GenofaceError, match="unknown mesh format"):
        read_mesh(tmp_path / "m.stl")
    (tmp_path / "junk.ply").write_text("not a ply\n")
    with pytest.raises(GenofaceError, match=r"junk\.ply: not a readable mesh"):
        read_mesh(tmp_path / "junk.ply")
