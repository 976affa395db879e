"""Face shape spaces: the built-in parametric face, the Surrey Face Model, regions and rendering.

:func:`load_shape_model` picks the shape space the way the command line does: an explicit
path, else the folder named by ``GENOFACE_SHAPE_MODEL``, else the built-in face.
"""

from __future__ import annotations

import os

from genoface.shape._builtin import builtin_shape_model
from genoface.shape._model import LANDMARK_NAMES, REGION_NAMES, ShapeModel
from genoface.shape._regions import segment_regions
from genoface.shape._sfm import SHAPE_MODEL_ENV, load_sfm
from genoface.shape.render import VIEWS, render_faces, render_mesh


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
    "VIEWS",
    "ShapeModel",
    "builtin_shape_model",
    "load_sfm",
    "load_shape_model",
    "render_faces",
    "render_mesh",
    "segment_regions",
]
