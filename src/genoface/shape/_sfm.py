"""Load the Surrey Face Model (shape only, converted to .npz) from a path the user gives.

The model is licensed for non-commercial use only, so genoface never ships it: it is read
from a folder (``--shape-model PATH`` or ``GENOFACE_SHAPE_MODEL``) holding
``sfm_shape_3448.npz`` and ``ibug_to_sfm.txt``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.io.landmarks import IBUG_LANDMARK_NAMES
from genoface.shape._model import LANDMARK_NAMES, ShapeModel
from genoface.shape._regions import segment_regions

#: Environment variable naming a shape model folder when no option is given.
SHAPE_MODEL_ENV = "GENOFACE_SHAPE_MODEL"

assert set(IBUG_LANDMARK_NAMES.values()) == set(LANDMARK_NAMES)

_SFM_DESCRIPTION = (
    "Surrey Face Model, shape only, 3448 vertices (Huber et al., VISAPP 2016); "
    "free for non-commercial use, commercial use needs a licence from the University of Surrey"
)


def _find_npz(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        hits = sorted(path.glob("sfm_shape_*.npz"))
        if hits:
            return hits[0]
        raise GenofaceError(f"{path}: no sfm_shape_*.npz in this folder; point --shape-model at the SFM folder")
    raise GenofaceError(f"{path}: shape model path does not exist")


def load_sfm(path: str | os.PathLike) -> ShapeModel:
    """Read the Surrey Face Model from its folder (or its .npz file)."""
    npz_path = _find_npz(Path(path))
    try:
        with np.load(npz_path, allow_pickle=False) as d:
            mean = d["mean"].astype(np.float64)
            basis = d["basis"].astype(np.float64)
            eigenvalues = d["eigenvalues"].astype(np.float64)
            triangles = d["triangles"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise GenofaceError(
            f"{npz_path}: not a readable SFM .npz (needs mean, basis, eigenvalues, triangles): {exc}"
        ) from None
    mapping_file = npz_path.parent / "ibug_to_sfm.txt"
    if not mapping_file.exists():
        raise GenofaceError(f"{mapping_file} is missing: the SFM folder must keep its landmark mapping")
    with open(mapping_file, "rb") as fh:
        ibug = {int(k): int(v) for k, v in tomllib.load(fh)["landmark_mappings"].items()}
    landmarks = {name: ibug[num] for num, name in IBUG_LANDMARK_NAMES.items()}
    if mean[landmarks["exocanthion_l"], 0] < mean[landmarks["exocanthion_r"], 0]:
        raise GenofaceError(f"{npz_path}: x does not point to the subject's left; convert the model first")
    return ShapeModel(
        name="sfm",
        mean=mean,
        basis=basis,
        eigenvalues=eigenvalues,
        triangles=triangles,
        regions=segment_regions(mean, landmarks),
        landmarks=landmarks,
        description=_SFM_DESCRIPTION,
    )
