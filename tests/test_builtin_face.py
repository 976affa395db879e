"""The built-in face: a valid mesh, a proper PCA shape space, and variation calibrated to the
published anthropometric norms it was built from (Farkas 1994)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from threadpoolctl import threadpool_limits

from genoface.core.errors import GenofaceError
from genoface.shape import (
    LANDMARK_NAMES,
    REGION_NAMES,
    SHAPE_MODEL_ENV,
    ShapeModel,
    _builtin,
    builtin_shape_model,
    load_shape_model,
)

SFM_DIR = Path(__file__).resolve().parents[2] / "shared/data/sfm"
NORMS = {p.name: p for p in _builtin.PARAMETERS}
# Farkas distances between landmarks every shape model has.
PAIRS = {
    "en_en": ("endocanthion_l", "endocanthion_r"),
    "ex_ex": ("exocanthion_l", "exocanthion_r"),
    "al_al": ("alare_l", "alare_r"),
    "ch_ch": ("cheilion_l", "cheilion_r"),
    "n_sn": ("nasion", "subnasale"),
    "n_gn": ("nasion", "gnathion"),
}
# And between points of the construction only the built-in face has (its outline, lids, lips).
EXTRA_PAIRS = {
    "zy_zy": ("side_zy_l", "side_zy_r"),
    "go_go": ("side_go_l", "side_go_r"),
    "ps_pi": ("palpebrale_superius_l", "palpebrale_inferius_l"),
    "sn_prn": ("subnasale", "pronasale"),
    "sn_sto": ("subnasale", "stomion"),
    "ls_sto": ("labiale_superius", "stomion"),
    "sto_li": ("stomion", "labiale_inferius"),
    "sto_sl": ("stomion", "sublabiale"),
}


@pytest.fixture(scope="module")
def model() -> ShapeModel:
    return builtin_shape_model()


@pytest.fixture(scope="module")
def sampled(model) -> np.ndarray:
    """2,000 faces drawn from the shape space (standard normal coefficients)."""
    rng = np.random.default_rng(12345)
    return model.reconstruct(rng.standard_normal((2000, model.n_components)))


def _all_landmarks() -> dict[str, int]:
    gen = _builtin._generator()
    return {**gen.landmarks, **gen.extra_landmarks}


def _distances(faces: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(faces[..., a, :] - faces[..., b, :], axis=-1)


def _triangle_normals(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])


# --- the mesh ----------------------------------------------------------------------------------


def test_mesh_size_and_indices(model):
    assert model.name == "builtin"
    assert "Farkas" in model.description and "simulated" in model.description
    assert 3000 <= model.n_vertices <= 6000
    t = model.triangles
    assert t.ndim == 2 and t.shape[1] == 3 and np.issubdtype(t.dtype, np.integer)
    assert t.min() == 0 and t.max() == model.n_vertices - 1
    assert len(np.unique(t)) == model.n_vertices  # every vertex is used


def test_no_degenerate_or_duplicate_triangles(model):
    t = model.triangles
    assert (t[:, 0] != t[:, 1]).all() and (t[:, 1] != t[:, 2]).all() and (t[:, 0] != t[:, 2]).all()
    area = 0.5 * np.linalg.norm(_triangle_normals(model.mean, t), axis=1)
    assert area.min() > 0.05  # mm^2; edges are 1.5 to 6 mm
    assert len(np.unique(np.sort(t, axis=1), axis=0)) == len(t)


def test_one_connected_component(model):
    t, v = model.triangles, model.n_vertices
    edges = np.vstack([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    graph = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(v, v))
    assert connected_components(graph, directed=False)[0] == 1


def test_triangles_face_the_viewer(model):
    normals = _triangle_normals(model.mean, model.triangles)
    in_face = (model.regions[model.triangles] >= 0).all(axis=1)
    mean_normal = normals[in_face].sum(axis=0)
    assert mean_normal[2] / np.linalg.norm(mean_normal) > 0.95
    # Nearly every face triangle is seen from the front (the nose's underside is the exception).
    assert (normals[in_face, 2] > 0).mean() > 0.97


def test_placement_matches_the_sfm_conventions(model):
    lm = model.landmark_positions()
    assert 0.0 <= lm["pronasale"][2] <= 5.0  # nose tip near z = 0..+5
    assert np.abs(model.mean[:, 0]).max() == pytest.approx(66.5, abs=3.0)  # zy-zy / 2
    assert -110 < model.mean[:, 2].min() < -80  # the sides recede to about -100
    assert lm["pronasale"][2] == pytest.approx(model.mean[:, 2].max(), abs=2.0)  # tip in front
    assert lm["exocanthion_l"][0] > 40 and lm["exocanthion_r"][0] < -40  # x to the subject's left
    assert lm["nasion"][1] == pytest.approx(38, abs=4) and lm["gnathion"][1] == pytest.approx(-80, abs=4)
    for name in LANDMARK_NAMES:  # mirror symmetric
        if name.endswith("_l"):
            left, right = lm[name], lm[name[:-2] + "_r"]
            assert np.allclose(left * [-1, 1, 1], right, atol=0.3), name


# --- the shape space ---------------------------------------------------------------------------


def test_basis_is_orthonormal(model):
    assert model.basis.shape == (3 * model.n_vertices, 40)
    assert np.allclose(model.basis.T @ model.basis, np.eye(40), atol=1e-10)


def test_eigenvalues_positive_and_decreasing(model):
    ev = model.eigenvalues
    assert (ev > 0).all() and (np.diff(ev) <= 0).all()
    # Human-sized: per-vertex RMS deviation of a few mm (the SFM's is about 5.6 mm).
    assert 1.5 < np.sqrt(model.total_variance / model.n_vertices) < 8.0


def test_top_pca_matches_the_exact_svd():
    # Faces-like data in float32 (a fast-decaying spectrum plus noise): the randomized axes and
    # variances must match the exact float64 SVD's at float32 precision, not just roughly.
    rng = np.random.default_rng(0)
    n, d, k = 300, 2000, 20
    spectrum = 40.0 * 0.8 ** np.arange(60)
    x = (rng.standard_normal((n, 60)) * spectrum) @ np.linalg.qr(rng.standard_normal((d, 60)))[0].T
    x = (x + 0.01 * rng.standard_normal((n, d))).astype(np.float32)
    x -= x.mean(axis=0)
    basis, var = _builtin._top_pca(x, k)
    _, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(var, s[:k] ** 2 / (n - 1), rtol=1e-6)
    assert np.allclose(basis.T @ basis, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(np.abs((basis * vt[:k].T).sum(axis=0)), 1.0, atol=1e-6)  # same axes up to sign


def test_project_inverts_reconstruct(model):
    b = np.random.default_rng(0).standard_normal((5, model.n_components))
    faces = model.reconstruct(b)
    assert np.allclose(model.project(faces), b, atol=1e-8)
    assert np.allclose(model.reconstruct(model.project(faces)), faces, atol=1e-8)


def test_fewer_components_are_a_prefix(model):
    small = builtin_shape_model(10)
    assert np.array_equal(small.basis, model.basis[:, :10])
    assert np.array_equal(small.eigenvalues, model.eigenvalues[:10])
    assert np.array_equal(small.mean, model.mean)
    with pytest.raises(GenofaceError, match="n_components"):
        builtin_shape_model(0)
    with pytest.raises(GenofaceError, match="n_components"):
        builtin_shape_model(_builtin.MAX_COMPONENTS + 1)


def test_build_is_deterministic(model):
    # A fresh build, bypassing the caches, under the same BLAS threading as the library's.
    with threadpool_limits(limits=1, user_api="blas"):
        gen = _builtin._FaceGenerator()
        mean, basis, evals = _builtin._decomposition.__wrapped__()
    assert np.array_equal(gen.chart, _builtin._generator().chart)
    assert np.array_equal(gen.triangles, model.triangles)
    assert gen.landmarks == model.landmarks
    assert np.array_equal(mean, model.mean)
    assert np.array_equal(basis[:, :40], model.basis)
    assert np.array_equal(evals[:40], model.eigenvalues)


def test_cached_model_is_read_only(model):
    assert builtin_shape_model() is model
    with pytest.raises(ValueError):
        model.mean[0, 0] = 1.0


def test_modes_do_not_fold_the_mesh(model):
    reference = _triangle_normals(model.mean, model.triangles)
    for k in range(10):
        for s in (-3.0, 3.0):
            b = np.zeros(model.n_components)
            b[k] = s
            n = _triangle_normals(model.reconstruct(b)[0], model.triangles)
            assert ((n * reference).sum(axis=1) > 0).all(), f"component {k + 1} at {s:+} SD flips triangles"


# --- landmarks and regions ---------------------------------------------------------------------


def test_every_landmark_and_region(model):
    assert set(model.landmarks) == set(LANDMARK_NAMES)
    assert len(set(model.landmarks.values())) == len(LANDMARK_NAMES)
    counts = np.bincount(model.regions[model.regions >= 0], minlength=len(REGION_NAMES))
    assert (counts > 100).all(), dict(zip(REGION_NAMES, counts, strict=True))
    region_of = {n: REGION_NAMES[model.regions[i]] for n, i in model.landmarks.items()}
    assert region_of["pronasale"] == "nose" and region_of["subnasale"] in ("nose", "mouth")
    assert region_of["exocanthion_l"] == "eyes" and region_of["exocanthion_r"] == "eyes"
    assert region_of["labiale_superius"] == "mouth" and region_of["labiale_inferius"] == "mouth"
    assert region_of["gnathion"] == "chin"


# --- calibration against the norms -------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAIRS) + list(EXTRA_PAIRS))
def test_mean_face_has_the_norm_means(model, name):
    a, b = {**PAIRS, **EXTRA_PAIRS}[name]
    lm = _all_landmarks()
    d = _distances(model.mean, lm[a], lm[b])
    assert d == pytest.approx(NORMS[name].mean, abs=1.5)


@pytest.mark.parametrize("name", list(PAIRS) + list(EXTRA_PAIRS))
def test_shape_space_has_the_norm_variances(sampled, name):
    """The SD of each distance over faces drawn from the shape space is its published SD."""
    a, b = {**PAIRS, **EXTRA_PAIRS}[name]
    lm = _all_landmarks()
    sd = _distances(sampled, lm[a], lm[b]).std()
    assert sd == pytest.approx(NORMS[name].sd, rel=0.2)


def test_parameter_sampler_follows_the_norms():
    x = _builtin.sample_parameters(20000, np.random.default_rng(1))
    mean = np.array([p.mean for p in _builtin.PARAMETERS])
    sd = np.array([p.sd for p in _builtin.PARAMETERS])
    assert np.allclose(x.mean(axis=0), mean, atol=3 * sd / np.sqrt(20000) + 1e-9)
    assert np.allclose(x.std(axis=0), sd, rtol=0.03)


# --- choosing the shape model ------------------------------------------------------------------


def test_load_shape_model_defaults_to_builtin(monkeypatch, model):
    monkeypatch.delenv(SHAPE_MODEL_ENV, raising=False)
    assert load_shape_model(None) is model
    monkeypatch.setenv(SHAPE_MODEL_ENV, "/nonexistent/sfm")
    with pytest.raises(GenofaceError, match="does not exist"):
        load_shape_model(None)


def test_load_shape_model_reads_the_sfm(monkeypatch):
    if not SFM_DIR.is_dir():
        pytest.skip(f"Surrey Face Model not found at {SFM_DIR}")
    monkeypatch.delenv(SHAPE_MODEL_ENV, raising=False)
    assert load_shape_model(SFM_DIR).name == "sfm"
    monkeypatch.setenv(SHAPE_MODEL_ENV, str(SFM_DIR))
    assert load_shape_model(None).name == "sfm"
