"""ShapePCA: recovers the eigenvalues of the shape spaces it samples from; exact round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genoface.core.errors import GenofaceError
from genoface.shape import ShapePCA, builtin_shape_model, load_sfm

SFM_DIR = Path(__file__).resolve().parents[2] / "shared/data/sfm"


def _sample(model, n, seed):
    rng = np.random.default_rng(seed)
    return model.reconstruct(rng.standard_normal((n, model.n_components)))


def _check_recovers(model, n, seed):
    faces = _sample(model, n, seed)
    pca = ShapePCA().fit(faces)
    k = model.n_components
    # The samples live in the model's K-dimensional space: exactly K non-null components.
    assert pca.n_components_ == k
    lam, lam_hat = model.eigenvalues, pca.explained_variance_
    # Sample eigenvalues: relative sampling SD about sqrt(2 / n); allow ~4 SD, and the total
    # variance (a sum of K such estimates) much tighter.
    rel = np.abs(lam_hat / lam - 1.0)
    assert rel.max() < 4.5 * np.sqrt(2.0 / n), rel.max()
    assert abs(lam_hat.sum() / lam.sum() - 1.0) < 3 * np.sqrt(2.0 / n)
    np.testing.assert_allclose(pca.explained_variance_ratio_.sum(), 1.0, atol=1e-10)
    # The fitted mean approaches the model's mean: sampling SD of each coordinate is
    # sqrt(var / n); check the RMS over vertices.
    rms = np.sqrt(((pca.mean_ - model.mean) ** 2).sum(axis=1).mean())
    assert rms < 3 * np.sqrt(lam.sum() / model.n_vertices / n)
    # The fitted axes span the model's: projecting them onto the basis keeps their length.
    np.testing.assert_allclose(np.linalg.norm(pca.components_ @ model.basis, axis=1), 1.0, atol=1e-8)
    # Well-separated leading axes match one to one (up to sign).
    gap = lam[:-1] / lam[1:]
    lead = int(np.argmax(gap < 1.3)) if (gap < 1.3).any() else k - 1
    for i in range(max(lead, 1)):
        assert abs(pca.components_[i] @ model.basis[:, i]) > 0.9
    return pca, faces


def test_recovers_builtin_eigenvalues():
    _check_recovers(builtin_shape_model(), n=1000, seed=0)


@pytest.mark.skipif(not SFM_DIR.exists(), reason="Surrey Face Model not available")
def test_recovers_sfm_eigenvalues():
    _check_recovers(load_sfm(SFM_DIR), n=1000, seed=1)


def test_round_trip_is_exact_at_full_rank():
    model = builtin_shape_model()
    faces = _sample(model, 30, 2) + np.random.default_rng(3).normal(scale=0.5, size=(30, model.n_vertices, 3))
    pca = ShapePCA().fit(faces)
    assert pca.n_components_ == 29  # n - 1 after centring
    back = pca.inverse_transform(pca.transform(faces))
    assert np.abs(back - faces).max() < 1e-8
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(29), atol=1e-10)
    # Scores have the explained variance as their sample variance.
    np.testing.assert_allclose(pca.transform(faces).var(axis=0, ddof=1), pca.explained_variance_, rtol=1e-8)


def test_n_components_int_and_fraction():
    model = builtin_shape_model()
    faces = _sample(model, 200, 4)
    full = ShapePCA().fit(faces)
    five = ShapePCA(5).fit(faces)
    assert five.components_.shape == (5, 3 * model.n_vertices)
    np.testing.assert_allclose(five.explained_variance_, full.explained_variance_[:5])
    frac = ShapePCA(0.9).fit(faces)
    cum = np.cumsum(full.explained_variance_ratio_)
    assert frac.n_components_ == int(np.searchsorted(cum, 0.9) + 1)
    assert frac.explained_variance_ratio_.sum() >= 0.9 > frac.explained_variance_ratio_[:-1].sum()
    # Truncated scores reconstruct the projection onto the leading axes.
    recon = five.inverse_transform(five.transform(faces))
    assert np.sqrt(((recon - faces) ** 2).sum(axis=(1, 2)).mean()) < np.sqrt(full.explained_variance_[5:].sum() * 1.01)


def test_arrays_round_trip_without_pickle(tmp_path):
    model = builtin_shape_model()
    faces = _sample(model, 50, 5)
    pca = ShapePCA(10).fit(faces)
    np.savez(tmp_path / "pca.npz", **pca.to_arrays())
    with np.load(tmp_path / "pca.npz", allow_pickle=False) as z:
        again = ShapePCA.from_arrays(z)
    np.testing.assert_array_equal(again.transform(faces), pca.transform(faces))
    np.testing.assert_array_equal(again.explained_variance_ratio_, pca.explained_variance_ratio_)


def test_fit_is_deterministic_and_checks_input():
    model = builtin_shape_model()
    faces = _sample(model, 20, 6)
    a, b = ShapePCA(4).fit(faces), ShapePCA(4).fit(faces.copy())
    np.testing.assert_array_equal(a.components_, b.components_)
    with pytest.raises(GenofaceError, match="not fitted"):
        ShapePCA().transform(faces)
    for bad in (0, 1.5, "all", True):
        with pytest.raises(GenofaceError, match="n_components"):
            ShapePCA(bad).fit(faces)
    with pytest.raises(GenofaceError, match="span only"):
        ShapePCA(25).fit(faces)
    with pytest.raises(GenofaceError, match="vertices"):
        a.transform(faces[:, :100])
    nan = faces.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(GenofaceError, match="NaN"):
        ShapePCA().fit(nan)


def test_large_truncated_fit_is_randomized_and_matches_the_exact_one():
    """Above 2,000 faces a truncated fit takes the randomized path; its leading components and
    variances agree with the exact decomposition (run here by asking for every component)."""
    rng = np.random.default_rng(0)
    n, v = 2100, 700
    basis = np.linalg.qr(rng.standard_normal((3 * v, 12)))[0]
    scale = np.linspace(8.0, 1.0, 12)
    faces = ((rng.standard_normal((n, 12)) * scale) @ basis.T + 0.05 * rng.standard_normal((n, 3 * v))).reshape(n, v, 3)
    fast = ShapePCA(n_components=10).fit(faces)
    exact = ShapePCA(n_components=None).fit(faces)
    np.testing.assert_allclose(fast.explained_variance_, exact.explained_variance_[:10], rtol=1e-6)
    overlap = np.abs(np.sum(fast.components_ * exact.components_[:10], axis=1))
    assert np.all(overlap > 1 - 1e-6)
    expected = int(np.searchsorted(np.cumsum(exact.explained_variance_ratio_), 0.9) + 1)
    assert fast.n_components_ == 10 and ShapePCA(n_components=0.9).fit(faces).n_components_ == expected


def _low_rank_faces(n, v, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((3 * v, 12)))[0]
    scale = np.linspace(8.0, 1.0, 12)
    noise = 0.05 * rng.standard_normal((n, 3 * v))
    return ((rng.standard_normal((n, 12)) * scale) @ basis.T + noise + 50.0).reshape(n, v, 3)


def test_streamed_fit_is_the_in_memory_randomized_fit(tmp_path):
    """Faces read a block at a time (a float32 memory map, as a cohort's faces.npy; a randomized
    SVD) give the in-memory fit (here exact) to float tolerance, and the same scores."""
    faces = _low_rank_faces(2100, 60).astype(np.float32)
    np.save(tmp_path / "faces.npy", faces)
    mapped = np.load(tmp_path / "faces.npy", mmap_mode="r")
    whole = ShapePCA(10).fit(faces)
    streamed = ShapePCA(10, batch_size=128).fit(mapped)
    np.testing.assert_allclose(streamed.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(streamed.explained_variance_, whole.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(streamed.components_, whole.components_, atol=1e-9)
    np.testing.assert_allclose(streamed.total_variance_, whole.total_variance_, rtol=1e-12)
    np.testing.assert_allclose(streamed.transform(mapped), whole.transform(faces), atol=1e-8)
    frac = ShapePCA(0.9, batch_size=500).fit(mapped)
    assert frac.n_components_ == ShapePCA(0.9).fit(faces).n_components_


def test_streamed_fit_holds_one_block_not_the_faces(tmp_path):
    """A streamed fit and transform of memory-mapped float32 faces allocate far less than the
    float64 copy an in-memory fit makes (NumPy's allocations, traced)."""
    import tracemalloc

    n, v = 4000, 200
    np.save(tmp_path / "faces.npy", _low_rank_faces(n, v).astype(np.float32))
    mapped = np.load(tmp_path / "faces.npy", mmap_mode="r")
    copy64 = n * v * 3 * 8
    tracemalloc.start()
    try:
        pca = ShapePCA(8, batch_size=200).fit(mapped)
        pca.transform(mapped)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < copy64 / 4, f"streamed peak {peak / 1e6:.1f} MB against a {copy64 / 1e6:.1f} MB float64 copy"
    tracemalloc.start()
    try:
        ShapePCA(8).fit(mapped)
        _, peak_whole = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_whole > copy64  # the in-memory route does widen the whole array


def test_streamed_fit_refuses_what_it_cannot_do():
    faces = _low_rank_faces(300, 20)
    with pytest.raises(GenofaceError, match="streaming keeps at most"):
        ShapePCA(None, batch_size=50).fit(faces)
    bad = faces.copy()
    bad[260, 3, 1] = np.nan
    with pytest.raises(GenofaceError, match=r"NaN .*faces 250-299"):
        ShapePCA(5, batch_size=50).fit(bad)
    with pytest.raises(GenofaceError, match="batch_size"):
        ShapePCA(5, batch_size=0).fit(faces)
