"""The model protocol every genoface predictor follows, and its on-disk model directory.

In the spirit of scikit-learn: hyper-parameters in ``__init__`` (stored under the same
names), learned state in attributes ending in ``_``, ``fit(cohort) -> self``,
``predict(genotypes, covariates=None) -> faces (n, V, 3)``, ``score_matrix`` for matching, and
``save``/``load`` to a directory of JSON plus a NumPy ``.npz`` read with
``allow_pickle=False``, so loading a model can never run code.
"""

from __future__ import annotations

import inspect
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from genoface import __version__
from genoface._fs import atomic_directory, write_json
from genoface.errors import GenofaceError

MODEL_FORMAT_VERSION = 1
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
# Keys under which every model directory keeps its template mesh and its variant panel.
_TEMPLATE_V, _TEMPLATE_T = "_template_vertices", "_template_triangles"
_PANEL_COLUMNS = ("chrom", "pos", "id", "ref", "alt")


class FaceModel(ABC):
    """Base class: predicts faces from genomes (and optional age/sex/BMI covariates)."""

    #: Registry name (``genoface train --model NAME``).
    name: ClassVar[str]
    #: Whether :meth:`score_matrix` is a log likelihood ratio log P(face | genome) / P(face), which
    #: the re-identification audit can add to the evidence of other traits.
    score_is_log_lr: ClassVar[bool] = False

    # ---- the protocol -------------------------------------------------------------------------

    @abstractmethod
    def fit(self, cohort) -> Self:
        """Learn from a :class:`~genoface.cohort.Cohort`; returns ``self``."""

    @abstractmethod
    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Faces (n, V, 3) in mm for the people in ``genotypes`` (a GenotypeData or Cohort).

        ``covariates`` (indexed by sample id; columns sex F/M, age, bmi) are used when given.
        """

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Similarity (n_genomes, n_faces), higher = more likely the same person.

        Default: minus the mean squared vertex distance between each predicted face and each
        face, computed face-block by face-block so the matrix is the only large output.
        """
        self.check_faces(faces)
        pred = self.predict(genotypes, covariates).reshape(-1, np.prod(faces.shape[1:]))
        faces = np.asarray(faces, dtype=np.float64).reshape(faces.shape[0], -1)
        out = np.empty((pred.shape[0], faces.shape[0]))
        pred_sq = (pred**2).sum(axis=1)[:, None]
        for start in range(0, faces.shape[0], 1024):
            block = faces[start : start + 1024]
            d2 = pred_sq - 2 * pred @ block.T + (block**2).sum(axis=1)[None, :]
            out[:, start : start + len(block)] = -d2 / (pred.shape[1] / 3)
        return out

    # ---- parameters and state -------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, read back from the attributes of the same names."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def _remember_cohort(self, cohort) -> None:
        """Keep the template (to write predictions as meshes and refuse foreign faces), the
        training variants (the panel a 23andMe/AncestryDNA file is read against: those files have
        no REF/ALT) and where the model was trained (provenance)."""
        self.template_vertices_ = np.asarray(cohort.template_vertices, dtype=np.float64)
        self.template_triangles_ = np.asarray(cohort.template_triangles, dtype=np.int64)
        self.panel_ = cohort.variants[list(_PANEL_COLUMNS)].reset_index(drop=True)
        self.provenance_ = {
            "cohort": {
                "name": cohort.meta.get("name"),
                "n": cohort.n_samples,
                "hash": cohort.hash(),
                "simulated": cohort.is_simulated,
            }
        }

    def check_faces(self, faces: np.ndarray) -> None:
        """Refuse faces on another template than the one the model was trained on."""
        self._check_fitted()
        v = self.template_vertices_.shape[0]
        if faces.ndim != 3 or faces.shape[1:] != (v, 3):
            raise GenofaceError(
                f"the faces have {faces.shape[1] if faces.ndim == 3 else '?'} vertices but model {self.name!r} "
                f"was trained on a {v}-vertex template; use faces registered to the model's template"
            )

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise GenofaceError(f"model {self.name!r} is not fitted: call fit(cohort) or load a trained model")

    @abstractmethod
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Learned state as (JSON-able scalars, arrays)."""

    @abstractmethod
    def _set_state(self, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_get_state` returned."""

    # ---- storage ----------------------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike,
        *,
        provenance: dict[str, Any] | None = None,
        overwrite: bool = False,
        attach: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write the model directory atomically: ``model.json`` + ``weights.npz``; ``attach`` may
        write more into the directory before it appears (the trait predictor, ``traits/``)."""
        self._check_fitted()
        scalars, arrays = self._get_state()
        config = {
            "format_version": MODEL_FORMAT_VERSION,
            "model": self.name,
            "params": self.get_params(),
            "state": scalars,
            "provenance": {"genoface_version": __version__, **getattr(self, "provenance_", {}), **(provenance or {})},
        }
        arrays = {**arrays, _TEMPLATE_V: self.template_vertices_, _TEMPLATE_T: self.template_triangles_}
        arrays |= {f"_panel_{c}": self.panel_[c].to_numpy() for c in _PANEL_COLUMNS}
        with atomic_directory(path, overwrite=overwrite) as tmp:
            write_json(tmp / CONFIG_FILE, config)
            np.savez_compressed(tmp / WEIGHTS_FILE, **{k: _plain(v) for k, v in arrays.items()})
            if attach is not None:
                attach(tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FaceModel:
        """Read a model directory written by :meth:`save` (any registered model when called on
        the base class)."""
        path = Path(path)
        config = read_model_config(path)
        from genoface.models._registry import get_model_class

        model_cls = get_model_class(config["model"]) if cls is FaceModel else cls
        if config["model"] != model_cls.name:
            raise GenofaceError(f"{path} holds a {config['model']!r} model, not {model_cls.name!r}")
        try:
            with np.load(path / WEIGHTS_FILE, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as exc:
            raise GenofaceError(
                f"{path / WEIGHTS_FILE}: corrupt or unreadable model weights ({exc}); retrain the model"
            ) from None
        if _TEMPLATE_V not in arrays or _TEMPLATE_T not in arrays:
            raise GenofaceError(f"{path / WEIGHTS_FILE}: no template mesh in the model; retrain the model")
        model = model_cls(**config["params"])
        model.template_vertices_ = arrays.pop(_TEMPLATE_V)
        model.template_triangles_ = arrays.pop(_TEMPLATE_T)
        panel = {c: arrays.pop(f"_panel_{c}") for c in _PANEL_COLUMNS if f"_panel_{c}" in arrays}
        if len(panel) != len(_PANEL_COLUMNS):
            raise GenofaceError(f"{path / WEIGHTS_FILE}: no variant panel in the model; retrain the model")
        model.panel_ = pd.DataFrame(panel).astype({"chrom": str, "id": str, "ref": str, "alt": str})
        model._set_state(config["state"], arrays)
        model.provenance_ = config.get("provenance", {})
        model.fitted_ = True
        return model


def genotype_arrays(genotypes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample_ids, genotypes, variant ids) from a GenotypeData or a Cohort."""
    try:
        return np.asarray(genotypes.sample_ids), genotypes.genotypes, genotypes.variants["id"].to_numpy()
    except AttributeError:
        raise GenofaceError("genotypes must be a GenotypeData (genoface.io) or a Cohort") from None


def covariate_arrays(sample_ids: np.ndarray, covariates: pd.DataFrame | None) -> dict[str, np.ndarray | None]:
    """is_male (1/0/NaN), age and bmi aligned to ``sample_ids``; None where not given."""
    if covariates is None:
        return {"is_male": None, "age": None, "bmi": None}
    missing = pd.Index(sample_ids).difference(covariates.index)
    if len(missing):
        raise GenofaceError(f"covariates lack {len(missing)} samples, e.g. {', '.join(map(str, missing[:5]))}")
    cov = covariates.loc[sample_ids]
    out: dict[str, np.ndarray | None] = {"is_male": None, "age": None, "bmi": None}
    if "sex" in cov:
        out["is_male"] = cov["sex"].map({"M": 1.0, "F": 0.0}).astype(float).to_numpy()
    for c in ("age", "bmi"):
        if c in cov:
            out[c] = pd.to_numeric(cov[c], errors="coerce").to_numpy(dtype=float)
    return out


def read_model_config(path: Path) -> dict[str, Any]:
    """``model.json`` of a model directory, checked."""
    file = Path(path) / CONFIG_FILE
    if not file.exists():
        raise GenofaceError(f"{path}: not a genoface model directory (no {CONFIG_FILE})")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise GenofaceError(
            f"{file}: corrupt model configuration ({exc.msg} at line {exc.lineno}); retrain the model"
        ) from None
    if config.get("format_version") != MODEL_FORMAT_VERSION:
        raise GenofaceError(
            f"{file}: model format {config.get('format_version')!r}; this genoface reads {MODEL_FORMAT_VERSION}"
        )
    for key in ("model", "params", "state"):
        if key not in config:
            raise GenofaceError(f"{file}: missing {key!r}; the model directory is damaged, retrain the model")
    return config


def _plain(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "O":
        return a.astype(str)
    return a
