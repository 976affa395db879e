"""Mesh operators: adjacency, SpiralNet++ spirals on hand-made meshes, sampling hierarchies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genoface.core.errors import GenofaceError
from genoface.shape import builtin_shape_model, downsampling_hierarchy, k_ring, spiral_sequences, vertex_neighbours

SFM_DIR = Path(__file__).resolve().parents[2] / "shared/data/sfm"


def _hex_fan():
    """Centre 0 and six neighbours 1..6 counter-clockwise (seen from +z)."""
    ang = np.arange(6) * np.pi / 3
    v = np.vstack([[0.0, 0.0, 0.0], np.c_[np.cos(ang), np.sin(ang), np.zeros(6)]])
    t = np.array([[0, i, i % 6 + 1] for i in range(1, 7)])
    return v, t


def _grid(n=7):
    """An n x n planar grid, triangles counter-clockwise seen from +z."""
    y, x = np.mgrid[0:n, 0:n]
    v = np.c_[x.ravel(), y.ravel(), np.zeros(n * n)].astype(float)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    t = np.concatenate([np.c_[a, b, d], np.c_[a, d, c]])
    return v, t


@pytest.fixture(scope="module")
def face():
    m = builtin_shape_model()
    return m.mean, m.triangles


def test_neighbours_and_rings_of_the_fan():
    v, t = _hex_fan()
    nb = vertex_neighbours(t, 7)
    np.testing.assert_array_equal(nb[0], [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(nb[1], [0, 2, 6])
    rings = k_ring(nb, 1, 2)
    np.testing.assert_array_equal(rings[0], [0, 2, 6])
    np.testing.assert_array_equal(rings[1], [3, 4, 5])
    assert k_ring(nb, 0, 0) == []


def test_spirals_of_the_fan_by_hand():
    v, t = _hex_fan()
    s = spiral_sequences(v, t, length=9)
    # Centre: its ring clockwise from the lowest neighbour; no second ring, so padded with itself.
    np.testing.assert_array_equal(s[0], [0, 1, 6, 5, 4, 3, 2, 0, 0])
    # Boundary vertex 1: its fan clockwise from its end (6, 0, 2); then the next ring walked
    # from vertex 6 (finds 5) and from the centre 0, continuing after 6 (finds 4, 3).
    np.testing.assert_array_equal(s[1], [1, 6, 0, 2, 5, 4, 3, 1, 1])
    # The fan is symmetric under rotation: vertex k's spiral is vertex 1's rotated.
    for k in range(2, 7):
        rot = np.r_[0, (np.arange(6) + k - 1) % 6 + 1]
        np.testing.assert_array_equal(s[k], rot[s[1]])
    np.testing.assert_array_equal(spiral_sequences(v, t, length=4)[0], [0, 1, 6, 5])
    np.testing.assert_array_equal(spiral_sequences(v, t, length=3, dilation=2)[0], [0, 6, 4])


def test_spirals_on_a_grid_interior_vertex():
    v, t = _grid(7)
    s = spiral_sequences(v, t, length=19)
    c = 3 * 7 + 3  # centre vertex (3, 3); its 1-ring has 6 vertices in this triangulation
    ring1 = set(vertex_neighbours(t, 49)[c].tolist())
    assert s[c, 0] == c and set(s[c, 1:7].tolist()) == ring1
    # Clockwise seen from +z: the signed angle decreases step by step around the centre.
    ang = np.arctan2(v[s[c, 1:7], 1] - v[c, 1], v[s[c, 1:7], 0] - v[c, 0])
    step = np.angle(np.exp(1j * np.diff(ang)))
    assert (step < 0).all()
    # The next 12 are the 2-ring, all of it.
    ring2 = set(k_ring(vertex_neighbours(t, 49), c, 2)[1].tolist())
    assert set(s[c, 7:19].tolist()) == ring2


def test_every_spiral_starts_at_its_vertex_and_stays_on_its_rings(face):
    v, t = face
    length = 9
    s = spiral_sequences(v, t, length=length)
    assert s.shape == (len(v), length)
    np.testing.assert_array_equal(s[:, 0], np.arange(len(v)))
    nb = vertex_neighbours(t, len(v))
    rng = np.random.default_rng(0)
    for i in rng.choice(len(v), 200, replace=False):
        rings = k_ring(nb, i, 3)
        allowed = {int(i)}.union(*[set(r.tolist()) for r in rings])
        assert set(s[i].tolist()) <= allowed
        # The 1-ring comes first and whole (when it fits).
        r1 = rings[0]
        if len(r1) < length:
            assert set(s[i, 1 : 1 + len(r1)].tolist()) == set(r1.tolist())
        assert len(set(s[i].tolist())) == length  # no repeats on a face-sized mesh


@pytest.fixture(scope="module")
def hierarchy(face):
    v, t = face
    return downsampling_hierarchy(v, t, factors=(4, 4, 4, 4))


def test_levels_shrink_by_the_factors(face, hierarchy):
    v, _ = face
    n = len(v)
    assert len(hierarchy) == 4
    for level in hierarchy:
        expected = n / 4
        assert abs(len(level.vertices) - expected) <= 0.1 * expected
        assert level.down.shape == (len(level.vertices), n)
        assert level.up.shape == (n, len(level.vertices))
        assert level.triangles.max() < len(level.vertices)
        n = len(level.vertices)


def test_sampling_matrices_are_averages(hierarchy):
    for level in hierarchy:
        for m in (level.down, level.up):
            np.testing.assert_allclose(np.asarray(m.sum(axis=1)).ravel(), 1.0, atol=1e-12)
            assert m.data.min() >= 0.0
        assert (np.diff(level.down.indptr) == 1).all()  # down-sampling picks one vertex


def test_down_then_up_reconstructs_the_face(face, hierarchy):
    v, _ = face
    # D @ V is the coarse mesh (a selection of the fine vertices).
    np.testing.assert_array_equal(hierarchy[0].down @ v, hierarchy[0].vertices)
    # The same operators carry any face of the template; a smooth one is rebuilt closely.
    err = np.linalg.norm(hierarchy[0].up @ (hierarchy[0].down @ v) - v, axis=1)
    assert err.mean() < 0.5 and np.median(err) < 0.2  # mm, on a face ~150 mm tall
    # Kept vertices come back exactly.
    np.testing.assert_allclose(err[hierarchy[0].kept], 0.0, atol=1e-9)
    # A coarser level loses more detail, but stays within a few mm.
    fine = hierarchy[0].vertices
    err2 = np.linalg.norm(hierarchy[1].up @ (hierarchy[1].down @ fine) - fine, axis=1)
    assert err.mean() < err2.mean() < 3.0


def test_up_sampling_is_exact_on_a_plane():
    v, t = _grid(15)
    levels = downsampling_hierarchy(v, t, factors=(3,))
    lv = levels[0]
    # A flat grid decimated stays flat: every removed vertex lies in a coarse triangle or on
    # the coarse boundary, so barycentric up-sampling reproduces it where it is covered.
    rec = lv.up @ lv.vertices
    err = np.linalg.norm(rec - v, axis=1)
    assert np.median(err) < 1e-9


def _check_levels(n, levels, factors):
    for level, f in zip(levels, factors, strict=True):
        expected = n / f
        assert abs(len(level.vertices) - expected) <= max(0.1 * expected, 1)
        for m in (level.down, level.up):
            np.testing.assert_allclose(np.asarray(m.sum(axis=1)).ravel(), 1.0, atol=1e-12)
        assert len(level.triangles) > 0 and level.triangles.max() < len(level.vertices)
        # Every coarse vertex is still on a triangle (no vertex left floating).
        assert len(np.unique(level.triangles)) == len(level.vertices)
        n = len(level.vertices)


def test_very_coarse_levels_are_reached():
    # fast-simplification stops short of a few dozen vertices; the hand-written shortest-edge
    # collapse finishes the job.
    v, t = _grid(7)
    _check_levels(49, downsampling_hierarchy(v, t, factors=(4, 3)), (4, 3))
    _check_levels(49, downsampling_hierarchy(v, t, factors=(2, 2, 2)), (2, 2, 2))


@pytest.mark.skipif(not SFM_DIR.exists(), reason="Surrey Face Model not available")
def test_sfm_hierarchy_with_the_default_factors():
    from genoface.shape import load_sfm

    m = load_sfm(SFM_DIR)
    levels = downsampling_hierarchy(m.mean, m.triangles)
    _check_levels(m.n_vertices, levels, (4, 4, 4, 4))
    err = np.linalg.norm(levels[0].up @ (levels[0].down @ m.mean) - m.mean, axis=1)
    assert err.mean() < 0.5


def test_bad_arguments_are_refused(face):
    v, t = face
    with pytest.raises(GenofaceError, match="factors"):
        downsampling_hierarchy(v, t, factors=())
    with pytest.raises(GenofaceError, match="factors"):
        downsampling_hierarchy(v, t, factors=(0,))
    with pytest.raises(GenofaceError, match="triangles"):
        spiral_sequences(v, t + len(v))
    with pytest.raises(GenofaceError, match="length"):
        spiral_sequences(v, t, length=0)
