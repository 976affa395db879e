"""Render face meshes to PNG without a display: orthographic, shaded, painter's algorithm.

Each view rotates the mesh about the vertical axis, drops the triangles that face away from
the viewer, sorts the rest far-to-near and draws them as flat 2D polygons with a matplotlib
``PolyCollection``. Shading is Blinn-Phong from a fixed light, computed at the vertices
(from area-weighted vertex normals) and averaged over each triangle, which hides the
facets of a mesh of a few thousand vertices. No pyplot: figures are explicit ``Figure``
objects on the Agg canvas, so rendering works headless and leaves no global state.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_write_bytes

log = logging.getLogger(__name__)

#: Views, as the rotation (degrees) of the head about the vertical axis. Positive turns the
#: subject's left side away, so "three_quarter" and "profile" show the subject's right side.
VIEWS: dict[str, float] = {"front": 0.0, "three_quarter": 40.0, "profile": 90.0}

# A neutral, slightly warm clay colour: reads as skin without pretending to a complexion.
_SKIN_RGB = np.array([0.87, 0.74, 0.64])
# Key light from the upper left of the viewer, a weak fill from the right, camera on +z.
_KEY_LIGHT = np.array([-0.40, 0.50, 0.77])
_FILL_LIGHT = np.array([0.60, -0.10, 0.79])
_AMBIENT, _KEY, _FILL, _SPECULAR, _SHININESS = 0.22, 0.72, 0.18, 0.10, 24.0
_BACKGROUND = "white"


def _rotation(view: str) -> np.ndarray:
    if view not in VIEWS:
        raise GenofaceError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    phi = np.deg2rad(VIEWS[view])
    c, s = np.cos(phi), np.sin(phi)
    # Rotation about y: x' = x cos + z sin, z' = -x sin + z cos.
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _check_mesh(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3:
        raise GenofaceError(f"vertices must be (V, 3), got {v.shape}")
    if t.ndim != 2 or t.shape[1] != 3 or not np.issubdtype(t.dtype, np.integer):
        raise GenofaceError(f"triangles must be integer (T, 3), got {t.dtype} {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= v.shape[0]):
        raise GenofaceError(f"triangle indices must lie in [0, {v.shape[0]}), got [{t.min()}, {t.max()}]")
    if not np.isfinite(v).all():
        raise GenofaceError("vertices contain NaN or infinite coordinates")
    return v, t.astype(np.int64, copy=False)


def _vertex_normals(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unit vertex normals, the area-weighted mean of the adjacent triangle normals.

    trimesh sums the triangles' cross products (length 2 * area) at their vertices; not
    ``Trimesh.vertex_normals``, which weights by angle and turns some normals of the built-in
    face by up to 25 degrees from the area-weighted ones the shading was tuned on.
    ``process=False`` keeps the vertices as given (order, duplicates).
    """
    mesh = trimesh.Trimesh(v, t, process=False)
    return trimesh.geometry.mean_vertex_normals(len(v), t, mesh.triangles_cross)


def _colormap(cmap: str | Colormap) -> Colormap:
    return colormaps[cmap] if isinstance(cmap, str) else cmap


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a)


def _shade(normals: np.ndarray, albedo: np.ndarray) -> np.ndarray:
    """Blinn-Phong colour (V, 3) of surface points with unit ``normals`` in camera space."""
    key, fill = _unit(_KEY_LIGHT), _unit(_FILL_LIGHT)
    half = _unit(key + np.array([0.0, 0.0, 1.0]))
    diffuse = _KEY * np.clip(normals @ key, 0, None) + _FILL * np.clip(normals @ fill, 0, None)
    spec = _SPECULAR * np.clip(normals @ half, 0, None) ** _SHININESS
    return np.clip(albedo * (_AMBIENT + diffuse)[:, None] + spec[:, None], 0.0, 1.0)


def _project(vertices: np.ndarray, view: str) -> np.ndarray:
    """Vertices rotated into camera space for ``view`` (x right, y up, z to the viewer)."""
    return vertices @ _rotation(view).T


def render_mesh(
    ax: Axes,
    vertices: np.ndarray,
    triangles: np.ndarray,
    *,
    values: np.ndarray | None = None,
    cmap: str | Colormap = "magma",
    vmin: float | None = None,
    vmax: float | None = None,
    view: str = "front",
) -> PolyCollection:
    """Draw a shaded mesh onto the 2D axes ``ax``, orthographic, seen from ``view``.

    ``values`` (V,) colour the surface through ``cmap`` over [``vmin``, ``vmax``] (default:
    their range), still shaded; without them the surface is skin-coloured. The axes get
    equal aspect, no frame or ticks, and limits that fit the mesh. Returns the collection.
    """
    v, t = _check_mesh(vertices, triangles)
    cam = _project(v, view)
    normals = _vertex_normals(cam, t)
    if values is None:
        albedo = np.broadcast_to(_SKIN_RGB, v.shape)
    else:
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != (v.shape[0],):
            raise GenofaceError(f"values must have one number per vertex ({v.shape[0]}), got {vals.shape}")
        lo = np.nanmin(vals) if vmin is None else vmin
        hi = np.nanmax(vals) if vmax is None else vmax
        albedo = _colormap(cmap)(Normalize(lo, hi)(vals))[:, :3]
    vertex_rgb = _shade(normals, albedo)

    # Keep triangles facing the camera (the mesh is an open front-of-head surface, so the
    # back faces are only ever seen through the silhouette) and paint them far to near.
    p = cam[t]  # (T, 3, 3)
    facing = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])[:, 2] > 0
    order = np.argsort(p[facing, :, 2].mean(axis=1), kind="stable")
    keep = np.flatnonzero(facing)[order]
    face_rgb = vertex_rgb[t[keep]].mean(axis=1)
    # Edges in the face colour close the hairline gaps antialiasing leaves between polygons.
    coll = PolyCollection(p[keep, :, :2], facecolors=face_rgb, edgecolors=face_rgb, linewidths=0.3, antialiaseds=True)
    ax.add_collection(coll)
    _fit_axes(ax, cam[:, 0].min(), cam[:, 0].max(), cam[:, 1].min(), cam[:, 1].max())
    return coll


def _fit_axes(ax: Axes, x0: float, x1: float, y0: float, y1: float, margin: float = 0.03) -> None:
    pad = margin * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _per_mesh_values(values, n_meshes: int) -> list[np.ndarray | None]:
    if values is None:
        return [None] * n_meshes
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return [values] * n_meshes
    values = list(values)
    if len(values) != n_meshes:
        raise GenofaceError(f"values: got {len(values)} arrays for {n_meshes} meshes; give one per mesh or one for all")
    return [None if x is None else np.asarray(x, dtype=np.float64) for x in values]


def render_faces(path: str | os.PathLike, meshes: Sequence[np.ndarray], triangles: np.ndarray, **options: Any) -> Path:
    """Write one PNG to ``path``: a grid with one column per mesh and one row per view.

    ``options`` are the keyword arguments of :func:`render_faces_png`. The file is written
    atomically: it appears complete or not at all. Returns the path.
    """
    png = render_faces_png(meshes, triangles, **options)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, png)
    log.debug("rendered %d meshes to %s", len(meshes), path)
    return path


def render_faces_png(
    meshes: Sequence[np.ndarray],
    triangles: np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    values: np.ndarray | Sequence[np.ndarray | None] | None = None,
    views: Sequence[str] = ("front",),
    cmap: str | Colormap = "magma",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar_label: str | None = None,
    panel_height: float = 3.0,
    dpi: int = 110,
    palette: bool = False,
) -> bytes:
    """PNG bytes of a grid with one column per mesh and one row per view (for inlining in HTML).

    ``meshes`` are (V, 3) vertex arrays sharing ``triangles``. ``values`` is one (V,) array
    for all meshes or one per mesh (None for a plain one); with values, the colour scale
    [``vmin``, ``vmax``] (default: the range over all of them) is shared and drawn as a
    colorbar labelled ``colorbar_label``. All panels share one scale (mm per pixel), so
    faces can be compared by size. ``panel_height`` is in inches. ``palette`` stores the image
    with an adaptive 256-colour palette (max-coverage quantization: each channel within a few
    levels of the original, about 4x smaller), for images inlined in HTML.
    """
    meshes = [_check_mesh(m, triangles)[0] for m in meshes]
    if not meshes:
        raise GenofaceError("render_faces needs at least one mesh")
    views = list(views)
    for view in views:
        _rotation(view)  # validates the name before any drawing
    if titles is not None and len(titles) != len(meshes):
        raise GenofaceError(f"titles: got {len(titles)} for {len(meshes)} meshes")
    per_mesh = _per_mesh_values(values, len(meshes))
    given = any(x is not None for x in per_mesh)
    lo, hi = _colour_range(per_mesh, vmin, vmax)

    grid = _Grid.of(meshes, views, panel_height, titles is not None, given)
    fig = Figure(figsize=(grid.fig_w, grid.fig_h), dpi=dpi, facecolor=_BACKGROUND)
    FigureCanvasAgg(fig)
    for r, view in enumerate(views):
        for c, (mesh, vals) in enumerate(zip(meshes, per_mesh, strict=True)):
            ax = fig.add_axes(grid.panel(r, c))
            render_mesh(ax, mesh, triangles, values=vals, cmap=cmap, vmin=lo, vmax=hi, view=view)
            grid.centre(ax, mesh, view)
            if r == 0 and titles is not None:
                ax.set_title(str(titles[c]), fontsize=9, pad=2)
    if given:
        _add_colorbar(fig, grid, cmap, lo, hi, colorbar_label)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor=_BACKGROUND)
    return _to_palette(buf.getvalue()) if palette else buf.getvalue()


def render_overlay_png(
    scan: tuple[np.ndarray, np.ndarray],
    registered: tuple[np.ndarray, np.ndarray],
    values: np.ndarray,
    *,
    views: Sequence[str] = ("front", "profile"),
    vmax: float = 2.0,
    colorbar_label: str = "distance to scan (mm)",
    panel_height: float = 2.6,
    dpi: int = 90,
) -> bytes:
    """PNG bytes (palette) of a registration over its scan: per view, the scan alone, then the
    registered mesh coloured by ``values`` (0 to ``vmax``) drawn over the scan in grey.

    ``scan`` and ``registered`` are (vertices, triangles) pairs in one frame (mm); the meshes
    differ in topology, so each panel paints the scan first and the registration on top.
    """
    scan_v, scan_t = _check_mesh(*scan)
    reg_v, reg_t = _check_mesh(*registered)
    views = list(views)
    grid = _Grid.of([scan_v, scan_v], views, panel_height, True, True)
    fig = Figure(figsize=(grid.fig_w, grid.fig_h), dpi=dpi, facecolor=_BACKGROUND)
    FigureCanvasAgg(fig)
    grey = np.full(len(scan_v), 0.5)
    for r, view in enumerate(views):
        ax = fig.add_axes(grid.panel(r, 0))
        render_mesh(ax, scan_v, scan_t, view=view)
        grid.centre(ax, scan_v, view)
        ax2 = fig.add_axes(grid.panel(r, 1))
        render_mesh(ax2, scan_v, scan_t, values=grey, cmap="Greys", vmin=0.0, vmax=1.0, view=view)
        render_mesh(ax2, reg_v, reg_t, values=values, cmap="viridis", vmin=0.0, vmax=vmax, view=view)
        grid.centre(ax2, scan_v, view)
        if r == 0:
            ax.set_title("scan", fontsize=9, pad=2)
            ax2.set_title("registration over the scan", fontsize=9, pad=2)
    _add_colorbar(fig, grid, "viridis", 0.0, vmax, colorbar_label)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor=_BACKGROUND)
    return _to_palette(buf.getvalue())


def _colour_range(per_mesh: list[np.ndarray | None], vmin: float | None, vmax: float | None):
    """The shared colour scale: [vmin, vmax], by default the range of all the values given."""
    given = [x for x in per_mesh if x is not None]
    if not given:
        return vmin, vmax
    lo = min(np.nanmin(x) for x in given) if vmin is None else vmin
    hi = max(np.nanmax(x) for x in given) if vmax is None else vmax
    return lo, (lo + 1.0 if hi <= lo else hi)


@dataclass(frozen=True)
class _Grid:
    """The figure's layout (inches): one panel per mesh and view, all at one scale (mm per
    inch), a title strip on top and a colorbar strip on the right when needed."""

    n_rows: int
    width: float  # mm shown across a panel
    height: float  # mm shown up a panel
    panel_w: float
    panel_h: float
    title_h: float
    bar_w: float
    fig_w: float
    fig_h: float

    @classmethod
    def of(cls, meshes: list[np.ndarray], views: list[str], panel_h: float, titled: bool, bar: bool) -> _Grid:
        # One scale for every panel: the largest projected extent over all meshes and views.
        extents = []
        for view in views:
            for m in meshes:
                cam = _project(m, view)
                extents.append((np.ptp(cam[:, 0]), np.ptp(cam[:, 1])))
        width, height = np.max(extents, axis=0) * 1.06
        panel_w = panel_h * width / height
        title_h = 0.3 if titled else 0.0
        bar_w = 0.9 if bar else 0.0
        fig_w = panel_w * len(meshes) + bar_w
        fig_h = panel_h * len(views) + title_h
        return cls(len(views), width, height, panel_w, panel_h, title_h, bar_w, fig_w, fig_h)

    def panel(self, row: int, col: int) -> tuple[float, float, float, float]:
        """(left, bottom, width, height) of a panel, in figure fractions."""
        left = col * self.panel_w / self.fig_w
        bottom = (self.n_rows - 1 - row) * self.panel_h / self.fig_h
        return (left, bottom, self.panel_w / self.fig_w, self.panel_h / self.fig_h)

    def centre(self, ax: Axes, mesh: np.ndarray, view: str) -> None:
        """Centre the mesh in a panel of the common size."""
        cam = _project(mesh, view)
        cx = (cam[:, 0].min() + cam[:, 0].max()) / 2
        cy = (cam[:, 1].min() + cam[:, 1].max()) / 2
        ax.set_xlim(cx - self.width / 2, cx + self.width / 2)
        ax.set_ylim(cy - self.height / 2, cy + self.height / 2)


def _add_colorbar(fig: Figure, grid: _Grid, cmap: str | Colormap, lo, hi, label: str | None) -> None:
    cax = fig.add_axes(
        (1 - 0.75 * grid.bar_w / grid.fig_w, 0.15, 0.12 * grid.bar_w / grid.fig_w, 0.7 - grid.title_h / grid.fig_h)
    )
    mappable = ScalarMappable(Normalize(lo, hi), _colormap(cmap))
    bar = fig.colorbar(mappable, cax=cax)
    if label:
        bar.set_label(label, fontsize=9)
    bar.ax.tick_params(labelsize=8)


def _to_palette(png: bytes) -> bytes:
    """``png`` re-encoded with an adaptive 256-colour palette."""
    from PIL import Image  # matplotlib's own dependency

    with Image.open(io.BytesIO(png)) as img:
        quantized = img.convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE)
    buf = io.BytesIO()
    quantized.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
