"""The model protocol every genoface predictor follows, and its on-disk model directory.

In the spirit of scikit-learn: hyper-parameters in ``__init__`` (stored under the same
names), learned state in attributes ending in ``_``, ``fit(cohort) -> self``,
``predict(genotypes, covariates=None) -> faces (n, V, 3)``, ``score_matrix`` for matching, and
``save``/``load`` to a directory of JSON plus a NumPy ``.npz`` read with
``allow_pickle=False``, so loading a model can never run code. The learned state follows the one
array-state protocol of :mod:`genoface.core.state`: :meth:`FaceModel.to_arrays` gives it as a
flat mapping, :meth:`FaceModel._from_arrays` restores it.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from genoface import __version__
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, read_arrays, read_json_object, write_json
from genoface.core.state import split_scalars
from genoface.genetics import alt_frequencies, on_panel

log = logging.getLogger(__name__)

#: 2: one sex caller and one demographic-feature builder for every model (genoface 0.2).
MODEL_FORMAT_VERSION = 2
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
    #: Whether predictions change with the covariates (age, sex, BMI): what an age slider moves.
    uses_covariates: ClassVar[bool] = True

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
        # ALT frequencies in training: what orients A/T and C/G SNPs of a file of unknown strand.
        self.panel_["af"] = alt_frequencies(cohort.genotypes)
        self.provenance_ = {
            "cohort": {
                "name": cohort.meta.get("name"),
                "n": cohort.n_samples,
                "hash": cohort.hash(),
                "simulated": cohort.is_simulated,
            }
        }

    def on_panel(self, genotypes):
        """``genotypes`` (a GenotypeData or Cohort) re-read on the model's panel by the allele
        matcher: a forward-strand file whose REF/ALT are exchanged, whose chromosomes are named
        otherwise or whose variants are in another order reads as the training data did. The
        training cohort itself comes back as it is. Anything other than a plain match is logged."""
        if not hasattr(self, "panel_"):  # set at the start of fit, before the model is fitted
            self._check_fitted()
        data, report = on_panel(
            genotypes, self.panel_, strand="forward", panel_freq=self.panel_["af"].to_numpy(), source="genotypes"
        )
        if report.n_matched == 0:
            raise GenofaceError(
                f"none of the {self.name} model's {report.n_panel:,} variants is in the genotypes "
                f"({report.summary().split(': ', 1)[1]}); give genotypes with the variant ids or positions the "
                "model was trained on"
            )
        if report.n_matched < report.n_panel or report.n_flipped or report.n_strand_flipped:
            log.info("model %s: %s", self.name, report.summary())
        return data

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
    def to_arrays(self) -> dict[str, Any]:
        """Learned state as one flat mapping of arrays and JSON-able values (:mod:`genoface.core.state`)."""

    @abstractmethod
    def _from_arrays(self, state: dict[str, Any]) -> None:
        """Restore on this model (built from its parameters) what :meth:`to_arrays` returned."""

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
        scalars, arrays = split_scalars(self.to_arrays())
        config = {
            "format_version": MODEL_FORMAT_VERSION,
            "model": self.name,
            "params": self.get_params(),
            "state": scalars,
            "provenance": {"genoface_version": __version__, **getattr(self, "provenance_", {}), **(provenance or {})},
        }
        arrays = {**arrays, _TEMPLATE_V: self.template_vertices_, _TEMPLATE_T: self.template_triangles_}
        arrays |= {f"_panel_{c}": self.panel_[c].to_numpy() for c in (*_PANEL_COLUMNS, "af")}
        with atomic_directory(path, overwrite=overwrite) as tmp:
            write_json(tmp / CONFIG_FILE, config)
            np.savez_compressed(tmp / WEIGHTS_FILE, **{k: _plain(v) for k, v in arrays.items()})
            if attach is not None:
                attach(tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FaceModel:
        """Read a model directory written by :meth:`save` (any registered model when called on
        the base class).

        A damaged directory (truncated or corrupt ``weights.npz``, a ``model.json`` with wrong
        keys or types, arrays of the wrong shape) is one :class:`GenofaceError` naming the file
        and what is wrong, never another exception.
        """
        path = Path(path)
        config = read_model_config(path)
        file, weights = path / CONFIG_FILE, path / WEIGHTS_FILE
        try:
            model_cls = get_model_class(config["model"]) if cls is FaceModel else cls
        except GenofaceError as exc:
            raise GenofaceError(f"{file}: {exc}; the model directory is damaged or from a newer genoface") from None
        if config["model"] != model_cls.name:
            raise GenofaceError(f"{path} holds a {config['model']!r} model, not {model_cls.name!r}")
        params = _checked_params(model_cls, config["params"], file)
        arrays = read_weights(weights)
        template_v, template_t = _checked_template(arrays, weights)
        panel = _checked_panel(arrays, weights)
        try:
            model = model_cls(**params)
        except (TypeError, ValueError) as exc:  # GenofaceError is a ValueError too
            raise GenofaceError(
                f"{file}: parameters of the {model_cls.name!r} model not accepted ({exc}); retrain the model"
            ) from None
        model.template_vertices_ = template_v
        model.template_triangles_ = template_t
        model.panel_ = panel
        try:
            model._from_arrays(config["state"] | arrays)
        except MemoryError:
            raise GenofaceError(f"{path}: the model does not fit in memory; use a machine with more memory") from None
        except Exception as exc:  # any failure to restore the state means a damaged directory
            raise GenofaceError(
                f"{path}: the {model_cls.name!r} model's state in {CONFIG_FILE} / {WEIGHTS_FILE} is damaged "
                f"({type(exc).__name__}: {exc}); retrain the model"
            ) from None
        model.provenance_ = config.get("provenance", {})
        model.fitted_ = True
        model._self_check(path)
        return model

    def _self_check(self, path: Path) -> None:
        """Predict and score one probe person (every panel genotype 0; without and with
        covariates): a state damaged in a way the checks of :meth:`load` cannot see (a JSON
        value of the right type but the wrong length, an array of the wrong size) fails here,
        at load, as one error, not as a traceback in the middle of a prediction."""
        from genoface.io.genotypes import GenotypeData

        n_vertices = len(self.template_vertices_)
        try:
            probe = GenotypeData(
                np.array(["probe"]), np.zeros((1, len(self.panel_)), dtype=np.int8), self.panel_[list(_PANEL_COLUMNS)]
            )
            cov = pd.DataFrame(
                {"sex": ["F"], "age": [40.0], "bmi": [25.0]}, index=pd.Index(["probe"], name="sample_id")
            )
            with np.errstate(all="ignore"):
                for c in (None, cov):
                    faces = np.asarray(self.predict(probe, c))
                    if faces.shape != (1, n_vertices, 3) or not np.isfinite(faces).all():
                        raise ValueError(f"predicted faces of shape {faces.shape}, finite: {np.isfinite(faces).all()}")
                scores = np.asarray(self.score_matrix(probe, self.template_vertices_[None].astype(np.float32), cov))
                if scores.shape != (1, 1) or np.isnan(scores).any():
                    raise ValueError(f"match scores of shape {scores.shape}: {scores.ravel()[:1]}")
        except MemoryError:
            raise GenofaceError(f"{path}: the model does not fit in memory; use a machine with more memory") from None
        except Exception as exc:
            raise GenofaceError(
                f"{path}: the {self.name!r} model cannot predict a face for a test person "
                f"({type(exc).__name__}: {exc}); the model directory is damaged or made for another setup "
                "(e.g. its device), retrain the model"
            ) from None


#: Registered model classes by name (``genoface train --model NAME``); filled by
#: :func:`~genoface.models.register_model` as the model modules are imported.
MODEL_CLASSES: dict[str, type[FaceModel]] = {}


def get_model_class(name: str) -> type[FaceModel]:
    try:
        return MODEL_CLASSES[name]
    except KeyError:
        raise GenofaceError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODEL_CLASSES))}") from None


def chosen_terms(terms: str, allowed: tuple[str, ...]) -> frozenset[str]:
    """The terms a likelihood-ratio score adds up: "all" or a comma-separated subset of ``allowed``."""
    text = str(terms).strip()
    chosen = allowed if text == "all" else tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(set(chosen) - set(allowed))
    if unknown or not chosen:
        raise GenofaceError(f"terms must be 'all' or a comma-separated subset of {', '.join(allowed)}; got {terms!r}")
    return frozenset(chosen)


def check_positive_ints(model: FaceModel, keys: tuple[str, ...]) -> None:
    """Refuse a parameter among ``keys`` that is not an integer >= 1."""
    for key in keys:
        value = getattr(model, key)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise GenofaceError(f"{key} must be a positive integer, got {value!r}")


def genotype_arrays(genotypes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample_ids, genotypes, variant ids) from a GenotypeData or a Cohort."""
    try:
        return np.asarray(genotypes.sample_ids), genotypes.genotypes, genotypes.variants["id"].to_numpy()
    except AttributeError:
        raise GenofaceError("genotypes must be a GenotypeData (genoface.io) or a Cohort") from None


def read_model_config(path: Path) -> dict[str, Any]:
    """``model.json`` of a model directory, checked: a JSON object with ``format_version``, the
    model name (text), ``params`` and ``state`` (objects) and, where present, ``provenance``."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        if Path(path).is_file():
            raise GenofaceError(f"{path}: is a file; give the model directory (the folder holding {CONFIG_FILE})")
        raise GenofaceError(f"{path}: not a genoface model directory (no {CONFIG_FILE})")
    config = read_json_object(file, what="model configuration", fix="the model directory is damaged, retrain the model")
    version = config.get("format_version")
    if version != MODEL_FORMAT_VERSION or isinstance(version, bool):
        older = isinstance(version, int) and not isinstance(version, bool) and version < MODEL_FORMAT_VERSION
        raise GenofaceError(
            f"{file}: model format {version!r}; this genoface reads {MODEL_FORMAT_VERSION}"
            + ("; the model was saved by an older genoface: retrain it" if older else "")
        )
    for key in ("model", "params", "state"):
        if key not in config:
            raise GenofaceError(f"{file}: missing {key!r}; the model directory is damaged, retrain the model")
    for key, kind in (("model", str), ("params", dict), ("state", dict), ("provenance", dict)):
        if key in config and not isinstance(config[key], kind):
            raise GenofaceError(
                f"{file}: {key!r} is a JSON {_json_kind(config[key])}, not {_json_kind(kind())}; "
                "the model directory is damaged, retrain the model"
            )
    return config


def read_weights(file: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``weights.npz``, read without pickle; a missing, truncated or corrupt file
    is a :class:`GenofaceError` (whatever zipfile, zlib or NumPy raised underneath)."""
    return read_arrays(file, what="model weights", fix="retrain the model")


def _checked_params(model_cls: type[FaceModel], params: dict[str, Any], file: Path) -> dict[str, Any]:
    """``params`` of ``model.json`` whose names are constructor arguments and whose JSON types
    fit each argument's default (an int for an int, a list for a tuple, ...)."""
    sig = inspect.signature(model_cls.__init__)
    known = {k: p for k, p in sig.parameters.items() if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    for key, value in params.items():
        if key not in known:
            raise GenofaceError(
                f"{file}: unknown parameter {key!r} of the {model_cls.name!r} model; the model directory is "
                "damaged or from another genoface version, retrain the model"
            )
        default = known[key].default
        if default is inspect.Parameter.empty or default is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, (tuple, list)):
            ok = isinstance(value, list)
        else:
            ok = True
        if not ok:
            raise GenofaceError(
                f"{file}: parameter {key!r} is {_json_kind(value)} {_short(value)} where the {model_cls.name!r} model "
                f"takes {_json_kind(default)}; the model directory is damaged, retrain the model"
            )
    return params


def _checked_template(arrays: dict[str, np.ndarray], file: Path) -> tuple[np.ndarray, np.ndarray]:
    if _TEMPLATE_V not in arrays or _TEMPLATE_T not in arrays:
        raise GenofaceError(f"{file}: no template mesh in the model; retrain the model")
    v, t = arrays.pop(_TEMPLATE_V), arrays.pop(_TEMPLATE_T)
    if v.ndim != 2 or v.shape[1:] != (3,) or len(v) == 0 or v.dtype.kind not in "fiu":
        raise GenofaceError(
            f"{file}: template vertices have shape {v.shape} ({v.dtype}), not (V, 3) numbers; retrain the model"
        )
    v = v.astype(np.float64)
    if not np.isfinite(v).all():
        raise GenofaceError(f"{file}: template vertices are not all finite; retrain the model")
    if t.ndim != 2 or t.shape[1:] != (3,) or t.dtype.kind not in "iu":
        raise GenofaceError(
            f"{file}: template triangles have shape {t.shape} ({t.dtype}), not (T, 3) integers; retrain the model"
        )
    t = t.astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= len(v)):
        raise GenofaceError(f"{file}: template triangles index vertices outside 0..{len(v) - 1}; retrain the model")
    return v, t


def _checked_panel(arrays: dict[str, np.ndarray], file: Path) -> pd.DataFrame:
    panel = {c: arrays.pop(f"_panel_{c}") for c in _PANEL_COLUMNS if f"_panel_{c}" in arrays}
    if len(panel) != len(_PANEL_COLUMNS):
        raise GenofaceError(f"{file}: no variant panel in the model; retrain the model")
    lengths = {c: a.shape for c, a in panel.items()}
    if any(a.ndim != 1 for a in panel.values()) or len({a.shape for a in panel.values()}) != 1:
        raise GenofaceError(
            f"{file}: the variant panel's columns have shapes {lengths}, not one length; retrain the model"
        )
    if panel["pos"].dtype.kind not in "iu" or any(
        panel[c].dtype.kind not in "US" for c in ("chrom", "id", "ref", "alt")
    ):
        raise GenofaceError(f"{file}: the variant panel has columns of the wrong type; retrain the model")
    if len(panel["pos"]) == 0:
        raise GenofaceError(f"{file}: the variant panel is empty; retrain the model")
    if panel["pos"].min() < 0:  # 0 is PLINK's "unknown position"
        raise GenofaceError(f"{file}: the variant panel has negative positions; retrain the model")
    for c in ("chrom", "id", "ref", "alt"):
        if (np.char.str_len(panel[c].astype(str)) == 0).any():
            raise GenofaceError(f"{file}: the variant panel has an empty {c}; retrain the model")
    out = pd.DataFrame(panel).astype({"chrom": str, "pos": np.int64, "id": str, "ref": str, "alt": str})
    # ALT frequencies in training (NaN where unknown); models saved before they were kept have none.
    af = arrays.pop("_panel_af", None)
    if af is None:
        out["af"] = np.nan
    elif af.shape != (len(out),) or af.dtype.kind not in "fiu":
        raise GenofaceError(
            f"{file}: the variant panel's allele frequencies have shape {af.shape} ({af.dtype}); retrain the model"
        )
    else:
        af = af.astype(np.float64)
        if ((af < 0) | (af > 1)).any():
            raise GenofaceError(f"{file}: the variant panel has allele frequencies outside 0..1; retrain the model")
        out["af"] = af
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "O":
        return a.astype(str)
    return a
