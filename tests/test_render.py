"""Rendering meshes to PNG: size, content, colouring, atomic output, and the real SFM face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from genoface.core.errors import GenofaceError
from genoface.shape import builtin_shape_model, render_faces, render_mesh
from genoface.shape import render as render_module

SFM_DIR = Path(__file__).resolve().parents[2] / "shared/data/sfm"


@pytest.fixture(scope="module")
def face():
    m = builtin_shape_model()
    return m.mean, m.triangles


def _rgb(path: Path) -> np.ndarray:
    return imread(path)[..., :3]


def _not_blank(img: np.ndarray) -> None:
    covered = (img < 0.97).any(axis=-1).mean()  # share of non-white pixels
    assert 0.2 < covered < 0.95
    assert img.std() > 0.05


def test_png_has_the_expected_size(tmp_path, face):
    v, t = face
    out = render_faces(tmp_path / "a.png", [v, v + 1.0], t, views=("front", "profile"), panel_height=2.0, dpi=50)
    img = _rgb(out)
    # One row per view, one column per mesh; panels share one scale set by the widest view.
    width = max(np.ptp(v[:, 0]), np.ptp(v[:, 2])) / np.ptp(v[:, 1]) * 2.0 * 2 * 50
    assert img.shape[0] == 2 * 2.0 * 50
    assert abs(img.shape[1] - width) <= 1
    _not_blank(img)


def test_titles_and_three_views(tmp_path, face):
    v, t = face
    out = render_faces(tmp_path / "b.png", [v], t, titles=["mean"], views=("front", "three_quarter", "profile"))
    img = _rgb(out)
    assert img.shape[0] > img.shape[1]
    _not_blank(img)


def test_values_colour_the_surface(tmp_path, face):
    v, t = face
    plain = _rgb(render_faces(tmp_path / "plain.png", [v], t, dpi=60))
    coloured = _rgb(
        render_faces(
            tmp_path / "err.png",
            [v],
            t,
            values=v[:, 1],
            cmap="viridis",
            colorbar_label="mm",
            dpi=60,
        )
    )
    assert coloured.shape[0] == plain.shape[0] and coloured.shape[1] > plain.shape[1]  # the colorbar
    panel = coloured[:, : plain.shape[1]]
    assert np.abs(panel - plain).mean() > 0.02
    # The skin colour is warm (red > blue); viridis over the face gives blues and greens too.
    face_px = panel[(panel < 0.97).any(axis=-1)]
    assert (face_px[:, 2] > face_px[:, 0]).mean() > 0.3
    assert (plain[(plain < 0.97).any(axis=-1)][:, 2] > plain[(plain < 0.97).any(axis=-1)][:, 0]).mean() < 0.01


def test_per_mesh_values_share_one_scale(tmp_path, face):
    v, t = face
    out = render_faces(tmp_path / "c.png", [v, v], t, values=[None, np.linspace(0, 1, len(v))], vmin=0, vmax=2)
    _not_blank(_rgb(out))
    with pytest.raises(GenofaceError, match="values"):
        render_faces(tmp_path / "d.png", [v, v], t, values=[np.zeros(len(v))])


def test_failure_mid_render_leaves_no_file(tmp_path, face, monkeypatch):
    v, t = face
    target = tmp_path / "faces.png"
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    real = render_module.render_mesh
    monkeypatch.setattr(render_module, "render_mesh", failing)
    with pytest.raises(RuntimeError, match="boom"):
        render_faces(target, [v, v], t)
    assert list(tmp_path.iterdir()) == []
    # An existing file is left as it was.
    target.write_bytes(b"old")
    calls.clear()
    with pytest.raises(RuntimeError, match="boom"):
        render_faces(target, [v, v], t)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["faces.png"]


def test_vertex_normals_are_area_weighted(face):
    # The shading was tuned on area-weighted normals (trimesh's Trimesh.vertex_normals weights
    # by angle): the sum of the adjacent triangles' cross products, unit length; zero for a
    # vertex on no triangle.
    v, t = face
    v = np.vstack([v, [[0.0, 0.0, 500.0]]])
    cross = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    summed = np.zeros_like(v)
    for k in range(3):
        np.add.at(summed, t[:, k], cross)
    normals = render_module._vertex_normals(v, t)
    np.testing.assert_allclose(
        normals[:-1], summed[:-1] / np.linalg.norm(summed[:-1], axis=1, keepdims=True), atol=1e-12
    )
    np.testing.assert_array_equal(normals[-1], 0.0)


def test_render_mesh_on_given_axes(face):
    v, t = face
    fig = Figure(figsize=(3, 4), dpi=50)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    coll = render_mesh(ax, v, t, view="three_quarter")
    assert ax.get_aspect() == 1.0 and not ax.axison
    assert 0.5 * len(t) < len(coll.get_paths()) < len(t)  # back faces are culled


def test_bad_input_is_refused(tmp_path, face):
    v, t = face
    with pytest.raises(GenofaceError, match="view"):
        render_faces(tmp_path / "e.png", [v], t, views=("top",))
    with pytest.raises(GenofaceError, match="one number per vertex"):
        render_faces(tmp_path / "f.png", [v], t, values=np.zeros(3))
    with pytest.raises(GenofaceError, match="triangle indices"):
        render_faces(tmp_path / "g.png", [v], t + len(v))
    with pytest.raises(GenofaceError, match="titles"):
        render_faces(tmp_path / "h.png", [v], t, titles=["a", "b"])
    assert list(tmp_path.iterdir()) == []


def test_renders_the_sfm_mean(tmp_path):
    if not SFM_DIR.is_dir():
        pytest.skip(f"Surrey Face Model not found at {SFM_DIR}")
    from genoface.shape import load_sfm

    sfm = load_sfm(SFM_DIR)
    out = render_faces(tmp_path / "sfm.png", [sfm.mean], sfm.triangles, views=("front", "profile"), dpi=60)
    _not_blank(_rgb(out))


def test_png_bytes_are_what_render_faces_writes(tmp_path, face):
    from genoface.shape import render_faces_png

    v, t = face
    options = dict(values=[v[:, 1]], vmin=0, vmax=10, dpi=30, panel_height=1.0)
    png = render_faces_png([v], t, **options)
    assert png.startswith(b"\x89PNG")
    out = render_faces(tmp_path / "x.png", [v], t, **options)
    assert out.read_bytes() == png
    # The palette image is smaller and within a few levels of the full-colour one.
    small = render_faces(tmp_path / "q.png", [v], t, palette=True, **options)
    assert small.stat().st_size < len(png)
    full, quantized = _rgb(out), _rgb(small)
    assert full.shape == quantized.shape and np.abs(full - quantized).max() < 0.1
