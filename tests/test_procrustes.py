"""Procrustes: recovers known motions exactly, never reflects, and GPA behaves as theory says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genoface.core.errors import GenofaceError
from genoface.shape import align_to, generalized_procrustes, rigid_align


def _cloud(rng, v=200):
    return rng.normal(scale=[40.0, 60.0, 25.0], size=(v, 3))


@pytest.mark.parametrize("seed", range(5))
def test_recovers_known_rotation_and_translation(seed):
    rng = np.random.default_rng(seed)
    x = _cloud(rng)
    r = Rotation.random(random_state=seed).as_matrix()
    t = rng.normal(scale=50.0, size=3)
    y = x @ r.T + t
    aligned, r_hat, t_hat, s_hat = rigid_align(x, y)
    np.testing.assert_allclose(r_hat, r, atol=1e-10)
    np.testing.assert_allclose(t_hat, t, atol=1e-9)
    assert s_hat == 1.0
    np.testing.assert_allclose(aligned, y, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_recovers_known_similarity(seed):
    rng = np.random.default_rng(seed)
    x = _cloud(rng)
    r = Rotation.random(random_state=100 + seed).as_matrix()
    s, t = rng.uniform(0.5, 2.0), rng.normal(scale=50.0, size=3)
    y = s * x @ r.T + t
    aligned, r_hat, t_hat, s_hat = rigid_align(x, y, scale=True)
    np.testing.assert_allclose([s_hat], [s], rtol=1e-12)
    np.testing.assert_allclose(r_hat, r, atol=1e-10)
    np.testing.assert_allclose(t_hat, t, atol=1e-9)
    np.testing.assert_allclose(aligned, y, atol=1e-9)


def test_weights_fit_only_the_weighted_vertices():
    rng = np.random.default_rng(1)
    x = _cloud(rng)
    r = Rotation.random(random_state=3).as_matrix()
    y = x @ r.T + 5.0
    y[:50] += rng.normal(scale=30.0, size=(50, 3))  # outliers with weight zero
    w = np.ones(len(x))
    w[:50] = 0.0
    _, r_hat, t_hat, _ = rigid_align(x, y, weights=w)
    np.testing.assert_allclose(r_hat, r, atol=1e-10)
    np.testing.assert_allclose(t_hat, 5.0, atol=1e-9)


def test_never_returns_a_reflection():
    rng = np.random.default_rng(2)
    for seed in range(20):
        x = _cloud(rng, 50)
        mirror = x * np.array([-1.0, 1.0, 1.0])  # a reflected target: the best fit is a reflection
        y = mirror @ Rotation.random(random_state=seed).as_matrix().T
        for scale in (False, True):
            _, r, _, s = rigid_align(x, y, scale=scale)
            assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
            np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
            assert s > 0


def test_align_to_matches_rigid_align_per_face():
    rng = np.random.default_rng(3)
    target = _cloud(rng, 80)
    faces = np.stack([target @ Rotation.random(random_state=i).as_matrix().T + rng.normal(size=3) for i in range(6)])
    faces += rng.normal(scale=0.5, size=faces.shape)
    batched = align_to(faces, target, scale=True)
    for f, b in zip(faces, batched, strict=True):
        np.testing.assert_allclose(b, rigid_align(f, target, scale=True)[0], atol=1e-10)


def test_bad_input_is_refused():
    x = np.zeros((10, 3))
    with pytest.raises(GenofaceError, match="same vertices"):
        rigid_align(x, np.zeros((11, 3)))
    with pytest.raises(GenofaceError, match=r"\(V, 3\)"):
        rigid_align(np.zeros((10, 2)), np.zeros((10, 2)))
    with pytest.raises(GenofaceError, match="NaN"):
        rigid_align(np.full((10, 3), np.nan), x)
    with pytest.raises(GenofaceError, match="weights"):
        rigid_align(x, x, weights=np.ones(3))


def _noisy_faces(rng, n=12, v=150):
    base = _cloud(rng, v)
    return base[None] + rng.normal(scale=2.0, size=(n, v, 3))


def _random_motion(faces, rng, scale=False):
    out = []
    for i, f in enumerate(faces):
        r = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
        s = rng.uniform(0.7, 1.4) if scale else 1.0
        out.append(s * f @ r.T + rng.normal(scale=100.0, size=3))
    return np.stack(out)


@pytest.mark.parametrize("scale", [False, True])
def test_gpa_converges_to_a_fixed_point(scale):
    rng = np.random.default_rng(4)
    faces = _random_motion(_noisy_faces(rng), rng, scale=scale)
    aligned, mean = generalized_procrustes(faces, scale=scale)
    # At convergence the mean is the average of the aligned faces and each face is optimally
    # aligned to it: one more round changes nothing.
    avg = aligned.mean(axis=0)
    if scale:  # with scaling the mean is renormalised to the inputs' size: compare directions
        avg *= np.sqrt((mean**2).sum() / (avg**2).sum())
    np.testing.assert_allclose(avg, mean, atol=1e-6)
    np.testing.assert_allclose(align_to(aligned, mean, scale=scale), aligned, atol=1e-6)
    np.testing.assert_allclose(mean.mean(axis=0), 0.0, atol=1e-9)
    # The noise-free shape is recovered up to a rigid motion (noise sd 2 mm, 12 faces).
    base_err = np.sqrt(((aligned - mean) ** 2).sum(axis=2).mean())
    assert base_err < 2.0 * np.sqrt(3) * 1.1


@pytest.mark.parametrize("scale", [False, True])
def test_gpa_is_invariant_to_rigid_motions_of_the_inputs(scale):
    rng = np.random.default_rng(5)
    faces = _noisy_faces(rng)
    a1, m1 = generalized_procrustes(faces, scale=scale)
    a2, m2 = generalized_procrustes(_random_motion(faces, rng, scale=scale), scale=scale)
    # Same result up to one rigid motion common to all faces (with scaling, one similarity:
    # rescaled inputs change the average size that the mean is kept at).
    flat1, flat2 = a1.reshape(-1, 3), a2.reshape(-1, 3)
    back = rigid_align(flat2, flat1, scale=scale)[0]
    np.testing.assert_allclose(back, flat1, atol=1e-5)
    np.testing.assert_allclose(rigid_align(m2, m1, scale=scale)[0], m1, atol=1e-5)


def test_gpa_reduces_to_centring_for_identical_shapes():
    rng = np.random.default_rng(6)
    base = _cloud(rng, 60)
    faces = _random_motion(np.repeat(base[None], 5, axis=0), rng)
    aligned, mean = generalized_procrustes(faces)
    np.testing.assert_allclose(aligned, np.repeat(mean[None], 5, axis=0), atol=1e-8)
    np.testing.assert_allclose(rigid_align(base, mean)[0], mean, atol=1e-8)
