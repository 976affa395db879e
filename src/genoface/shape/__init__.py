"""Face shape spaces: the built-in parametric face, the Surrey Face Model, regions and rendering.

:func:`load_shape_model` picks the shape space the way the command line does: an explicit
path, else the folder named by ``GENOFACE_SHAPE_MODEL``, else the built-in face.
"""

from __future__ import annotations

import os

from genoface.shape._builtin import builtin_shape_model
from genoface.shape._errors import aligned_error, per_vertex_error, region_errors
from genoface.shape._mesh_ops import MeshLevel, downsampling_hierarchy, k_ring, spiral_sequences, vertex_neighbours
from genoface.shape._model import LANDMARK_NAMES, REGION_NAMES, ShapeModel
from genoface.shape._pca import ShapePCA
from genoface.shape._procrustes import align_to, generalized_procrustes, rigid_align
from genoface.shape._regions import segment_regions
from genoface.shape._registration import (
    DEFAULT_SCHEDULE,
    UNIT_MM,
    Registration,
    RegistrationOptions,
    Template,
    register_scan,
)
from genoface.shape._sfm import SHAPE_MODEL_ENV, load_sfm
from genoface.shape.render import VIEWS, render_faces, render_faces_png, render_mesh, render_overlay_png


def load_shape_model(path: str | os.PathLike | None = None) -> ShapeModel:
    """The Surrey Face Model at ``path`` (or ``$GENOFACE_SHAPE_MODEL``), else the built-in face."""
    if path is None:
        path = os.environ.get(SHAPE_MODEL_ENV) or None
    if path is None:
        return builtin_shape_model()
    return load_sfm(path)


__all__ = [
    "LANDMARK_NAMES",
    "REGION_NAMES",
    "SHAPE_MODEL_ENV",
    "UNIT_MM",
    "VIEWS",
    "MeshLevel",
    "ShapeModel",
    "ShapePCA",
    "DEFAULT_SCHEDULE",
    "Registration",
    "RegistrationOptions",
    "Template",
    "register_scan",
    "align_to",
    "aligned_error",
    "builtin_shape_model",
    "downsampling_hierarchy",
    "generalized_procrustes",
    "k_ring",
    "load_sfm",
    "load_shape_model",
    "per_vertex_error",
    "region_errors",
    "render_faces",
    "render_faces_png",
    "render_mesh",
    "render_overlay_png",
    "rigid_align",
    "segment_regions",
    "spiral_sequences",
    "vertex_neighbours",
]
