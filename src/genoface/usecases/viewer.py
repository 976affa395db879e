"""What ``genoface serve`` does for one request, over models loaded once: one person's genome
read on a model's panel (from an uploaded file or a sample of the served cohort), their faces
(several draws for models that sample, at a chosen age, sex and BMI), the faces as PLY, OBJ,
GLB or PNG, their traits, and the cohort's faces ranked for them beside the ranks that
demographics alone give. The web application only turns HTTP into these calls and back.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from scipy.stats import rankdata

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.genetics import GenomeFile, MatchReport, PreparedPanel, on_panel, select_samples
from genoface.io import GenotypeData
from genoface.models import FaceModel
from genoface.shape import render_faces_png
from genoface.traits import TRAITS_SUBDIR, TraitPredictor, load_trait_predictor
from genoface.usecases.predict import covariate_frame
from genoface.usecases.traits import traits_for_file

#: The most faces one request may draw from a genome.
MAX_FACES = 6
EXPORT_FORMATS = {
    "ply": "application/octet-stream",
    "obj": "text/plain",
    "glb": "model/gltf-binary",
    "png": "image/png",
}


class NotFoundError(GenofaceError):
    """A model, sample or face the request names does not exist (HTTP 404)."""


@dataclass
class LoadedModel:
    """A trained model held by the server, under the label the page shows."""

    label: str
    directory: Path
    model: FaceModel

    @property
    def can_sample(self) -> bool:
        return callable(getattr(self.model, "sample", None))

    @functools.cached_property
    def mean_face(self) -> np.ndarray:
        """The population mean face (V, 3): the shape space's mean where the model has one (the
        mean model's own face), else its template."""
        pca = getattr(self.model, "shape_pca_", None)
        if pca is not None:
            return np.asarray(pca.mean_, dtype=np.float64)
        return np.asarray(getattr(self.model, "mean_face_", self.model.template_vertices_), dtype=np.float64)

    @functools.cached_property
    def mean_normals(self) -> np.ndarray:
        """(V, 3) unit vertex normals of the mean face: the direction a difference is signed along."""
        return trimesh.Trimesh(self.mean_face, self.model.template_triangles_, process=False).vertex_normals

    @functools.cached_property
    def panel(self) -> PreparedPanel:
        """The model's variant panel, normalized once for every genome read on it."""
        return PreparedPanel.of(self.model.panel_)

    @functools.cached_property
    def trait_predictor(self) -> TraitPredictor | None:
        """The trait predictor ``genoface train`` kept in the model directory (loaded once)."""
        return load_trait_predictor(self.directory) if (self.directory / TRAITS_SUBDIR).is_dir() else None

    def prepare(self) -> None:
        """Load and normalize now what the first request would otherwise wait for."""
        _ = self.panel, self.trait_predictor, self.mean_normals

    def info(self) -> dict[str, Any]:
        return {
            "name": self.label,
            "kind": self.model.name,
            "samples": self.can_sample,
            "age_projection": bool(self.model.uses_covariates),
        }


def load_models(directories: list[str | os.PathLike]) -> dict[str, LoadedModel]:
    """Each model directory loaded once, labelled by its folder name (made unique)."""
    if not directories:
        raise GenofaceError("give at least one --model directory")
    out: dict[str, LoadedModel] = {}
    for directory in directories:
        path = Path(directory)
        label, k = path.resolve().name, 2
        while label in out:
            label, k = f"{path.resolve().name}-{k}", k + 1
        out[label] = LoadedModel(label, path, FaceModel.load(path))
    return out


@dataclass
class PersonGenome:
    """One person's genotypes read on a model's panel, and how the alleles were matched."""

    sample: str
    data: GenotypeData
    report: MatchReport
    source: GenomeFile | None = None  # the genome file it came from, read (None: the served cohort)


def genome_from_file(file: GenomeFile, model: LoadedModel, person: str | None = None) -> PersonGenome:
    """The person ``person`` (default: the first) of a genome file already read, on ``model``'s panel."""
    data, report = file.on_panel(model.panel)
    ids = [str(s) for s in data.sample_ids]
    if person and person not in ids:
        raise NotFoundError(f"no person {person!r} in the uploaded file; it holds {', '.join(ids[:5])}")
    sample = person or ids[0]
    return PersonGenome(sample, select_samples(data, [sample], file.path), report, file)


def genome_from_cohort(cohort: Cohort, sample: str, model: LoadedModel) -> PersonGenome:
    """Sample ``sample`` of the served cohort, on ``model``'s panel."""
    where = np.flatnonzero(np.asarray(cohort.sample_ids).astype(str) == sample)
    if len(where) == 0:
        raise NotFoundError(f"no sample {sample!r} in cohort {cohort.meta.get('name') or cohort.path}")
    panel = model.panel
    data, report = on_panel(
        cohort.subset(where[:1]), panel, strand="forward", panel_freq=panel.af, source=f"sample {sample}"
    )
    return PersonGenome(sample, data, report)


@dataclass
class PersonFaces:
    """Faces drawn for one person (n, V, 3), each vertex's signed distance (mm) from the
    population mean face along its normal (n, V), positive outward, and the covariates used
    (``assumed``: those filled in by :func:`complete_covariates`)."""

    faces: np.ndarray
    difference_mm: np.ndarray
    covariates: dict[str, Any]


def complete_covariates(model: LoadedModel, age: float | None, bmi: float | None) -> tuple[Any, Any, list[str]]:
    """Age and BMI, the one not given set to the training people's mean when only the other is:
    the models' dna+cov setting takes both together (without BMI, an age moves nothing)."""
    features = getattr(model.model, "demographics_", None)
    if features is None or (age is None) == (bmi is None):
        return age, bmi, []
    if age is None:
        return float(features.age_moments_[0]), bmi, ["age"]
    return age, float(features.bmi_moments_[0]), ["bmi"]


def predict_faces(
    model: LoadedModel,
    genome: PersonGenome,
    *,
    age: float | None = None,
    sex: str | None = None,
    bmi: float | None = None,
    n_faces: int = 1,
    seed: int = 0,
) -> PersonFaces:
    """The predicted face, or ``n_faces`` draws from a model that samples."""
    if not 1 <= int(n_faces) <= MAX_FACES:
        raise GenofaceError(f"n_faces must be between 1 and {MAX_FACES}, got {n_faces}")
    if n_faces > 1 and not model.can_sample:
        raise GenofaceError(f"model {model.label!r} ({model.model.name}) predicts one face; it cannot draw {n_faces}")
    if age is not None and not 0 <= age <= 150:
        raise GenofaceError(f"age must lie between 0 and 150, got {age}")
    age, bmi, assumed = complete_covariates(model, age, bmi)
    covariates = covariate_frame(np.array([genome.sample]), age, sex, bmi)
    if n_faces > 1:
        faces = model.model.sample(genome.data, int(n_faces), seed=seed, covariates=covariates)[0]
    else:
        faces = model.model.predict(genome.data, covariates)
    used = {"age": age, "sex": sex, "bmi": bmi, "assumed": assumed}
    difference = ((faces - model.mean_face) * model.mean_normals).sum(axis=2)
    return PersonFaces(np.asarray(faces, dtype=np.float64), difference, used)


def export_face(face: np.ndarray, triangles: np.ndarray, fmt: str, title: str) -> bytes:
    """One face as PLY (binary), OBJ, GLB or a PNG render (front and profile)."""
    if fmt not in EXPORT_FORMATS:
        raise GenofaceError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "png":
        return render_faces_png([face], triangles, titles=[title], views=("front", "profile"))
    data = trimesh.Trimesh(face, triangles, process=False).export(file_type=fmt)
    return data.encode() if isinstance(data, str) else bytes(data)


def person_traits(model: LoadedModel, genome: PersonGenome, cohort: Cohort | None) -> dict[str, Any]:
    """``genoface traits --json``'s record of the person: the model's trait predictor when it
    has one, genetic sex and the published pigmentation models otherwise."""
    file = genome.source if genome.source is not None else (cohort.genotype_file if cohort is not None else None)
    if file is None:
        raise GenofaceError("the cohort was built in memory: its genome file is unknown, so its traits cannot be read")
    report = traits_for_file(file, model=model.trait_predictor, samples=[genome.sample])
    return report.records[0]


def thumbnail(cohort: Cohort, face_id: str) -> bytes:
    """A small front render of one of the cohort's faces."""
    where = np.flatnonzero(np.asarray(cohort.sample_ids).astype(str) == face_id)
    if len(where) == 0:
        raise NotFoundError(f"no face {face_id!r} in the served cohort")
    face = np.asarray(cohort.faces[where[0]], dtype=np.float64)
    return render_faces_png([face], cohort.template_triangles, panel_height=1.6, dpi=80, palette=True)


def rank_gallery(
    model: LoadedModel,
    genome: PersonGenome,
    cohort: Cohort,
    *,
    covariates: dict[str, Any],
    demographic: tuple[LoadedModel, PersonGenome] | None = None,
    top: int = 20,
) -> dict[str, Any]:
    """The cohort's faces ranked for ``genome`` by ``model`` (rank 1 + the faces that score
    higher, ties sharing the better rank, as in the evaluation), the ``top`` first, each with
    the rank the demographic model gives it; and the genome's own face's ranks."""
    if top < 1:
        raise GenofaceError(f"top must be at least 1, got {top}")
    table = covariate_frame(np.array([genome.sample]), **covariates)
    faces = cohort.faces
    scores = np.asarray(model.model.score_matrix(genome.data, faces, table), dtype=np.float64)[0]
    ranks = rankdata(-scores, method="min").astype(int)
    demo_ranks = None
    if demographic is not None:
        demo_model, demo_genome = demographic
        demo_scores = demo_model.model.score_matrix(demo_genome.data, faces, table)[0]
        demo_ranks = rankdata(-np.asarray(demo_scores, dtype=np.float64), method="min").astype(int)
    ids = np.asarray(cohort.sample_ids).astype(str)
    own = np.flatnonzero(ids == genome.sample)
    best = np.argsort(-scores, kind="stable")[: int(top)]
    return {
        "sample": genome.sample,
        "model": model.label,
        "demographic_model": None if demographic is None else demographic[0].label,
        "n_faces": len(ids),
        "candidates": [
            {
                "face": ids[j],
                "score": float(scores[j]),
                "rank": int(ranks[j]),
                "demographic_rank": None if demo_ranks is None else int(demo_ranks[j]),
                "own": bool(ids[j] == genome.sample),
            }
            for j in best
        ],
        "own_rank": int(ranks[own[0]]) if len(own) else None,
        "own_demographic_rank": int(demo_ranks[own[0]]) if len(own) and demo_ranks is not None else None,
    }
