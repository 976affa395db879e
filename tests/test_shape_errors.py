"""Face error measures on hand-computed cases, and an error heatmap render."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.spatial.transform import Rotation

from genoface.core.errors import GenofaceError
from genoface.shape import (
    REGION_NAMES,
    aligned_error,
    builtin_shape_model,
    per_vertex_error,
    region_errors,
    render_faces,
)


def test_per_vertex_error_by_hand():
    true = np.zeros((2, 3, 3))
    pred = np.array(
        [
            [[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 2.0]],
            [[0.0, 0.0, -2.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
        ]
    )
    np.testing.assert_allclose(per_vertex_error(pred, true), [[5.0, 0.0, 3.0], [2.0, np.sqrt(3.0), 0.0]])
    # A single face (V, 3) is one person.
    np.testing.assert_allclose(per_vertex_error(pred[0], true[0]), [[5.0, 0.0, 3.0]])


def test_aligned_error_forgives_pose_but_not_shape():
    rng = np.random.default_rng(0)
    true = rng.normal(scale=30.0, size=(3, 50, 3))
    moved = np.stack([f @ Rotation.random(random_state=i).as_matrix().T + 10.0 for i, f in enumerate(true)])
    assert per_vertex_error(moved, true).mean() > 10.0
    np.testing.assert_allclose(aligned_error(moved, true), 0.0, atol=1e-9)
    # A uniform shift is pose: forgiven. A scaling is shape: kept.
    np.testing.assert_allclose(aligned_error(true + [1.0, 2.0, 3.0], true), 0.0, atol=1e-9)
    scaled = 1.1 * (true - true.mean(axis=1, keepdims=True)) + true.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(aligned_error(scaled, true), per_vertex_error(scaled, true), rtol=1e-9)


def test_aligned_error_by_hand():
    # A 10 mm square against the same square enlarged by 10% about its centre and shifted by
    # (3, 0, 4) mm: registered, each corner is off by the shift plus 0.5 mm outwards; after the
    # rigid fit (the shift is undone, no rotation helps a symmetric enlargement) each corner is
    # off by 10% of its 5*sqrt(2) mm distance to the centre.
    sq = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0]])
    centre = sq.mean(axis=0)
    pred = centre + 1.1 * (sq - centre) + [3.0, 0.0, 4.0]
    np.testing.assert_allclose(aligned_error(pred, sq), [[0.5 * np.sqrt(2.0)] * 4], atol=1e-12)
    np.testing.assert_allclose(per_vertex_error(pred, sq)[0, 1], np.linalg.norm([3.5, -0.5, 4.0]))
    # The fit never increases the squared error.
    rng = np.random.default_rng(3)
    p, t = rng.normal(size=(5, 20, 3)), rng.normal(size=(5, 20, 3))
    assert ((aligned_error(p, t) ** 2).sum(axis=1) <= (per_vertex_error(p, t) ** 2).sum(axis=1) + 1e-12).all()


def test_region_errors_by_hand():
    errors = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 2.0, 1.0, 0.0, 5.0]])
    regions = np.array([0, 0, 1, -1, 1])
    out = region_errors(errors, regions, ["nose", "eyes", "mouth"])
    assert out == {"nose": 2.0, "eyes": 3.5, "mouth": out["mouth"]}
    assert np.isnan(out["mouth"])
    with pytest.raises(GenofaceError, match="region label"):
        region_errors(errors, regions[:3], ["nose"])
    with pytest.raises(GenofaceError, match="same n and V"):
        per_vertex_error(np.zeros((2, 5, 3)), np.zeros((2, 4, 3)))


def test_region_errors_on_the_builtin_face():
    m = builtin_shape_model()
    rng = np.random.default_rng(1)
    true = m.reconstruct(rng.standard_normal((3, m.n_components)))
    pred = true.copy()
    nose = m.region_mask("nose")
    pred[:, nose, 2] += 2.0  # the nose 2 mm too far forward
    out = region_errors(per_vertex_error(pred, true), m.regions, REGION_NAMES)
    assert out["nose"] == pytest.approx(2.0)
    assert all(out[r] == 0.0 for r in REGION_NAMES if r != "nose")


def test_error_heatmap_is_rendered(tmp_path):
    m = builtin_shape_model()
    rng = np.random.default_rng(2)
    true = m.mean
    pred = m.reconstruct(0.5 * rng.standard_normal((1, m.n_components)))[0]
    err = aligned_error(pred, true)[0]
    out = render_faces(
        tmp_path / "heatmap.png",
        [true],
        m.triangles,
        values=err,
        vmin=0.0,
        colorbar_label="error (mm)",
        panel_height=2.0,
        dpi=60,
    )
    assert out.exists() and out.stat().st_size > 1000
    img = imread(out)[..., :3]
    assert img.std() > 0.05  # not blank
    # Colour varies over the face (the heatmap, not a flat skin tone).
    saturation = img.max(axis=-1) - img.min(axis=-1)
    assert (saturation > 0.3).mean() > 0.05
