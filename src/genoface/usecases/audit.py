"""``genoface audit`` on files: genomes, candidates, trained models -> audit.json + audit.html."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from genoface.audit import read_candidates, run_audit
from genoface.core.errors import GenofaceError
from genoface.core.files import check_output
from genoface.genetics import GenomeFile
from genoface.models import FaceModel
from genoface.report.audit import write_audit_report
from genoface.report.summary import print_audit
from genoface.traits import load_trait_predictor

log = logging.getLogger(__name__)

__all__ = ["audit_to_folder", "face_log_lr", "print_audit"]


def face_log_lr(model: FaceModel, genomes: GenomeFile, faces: np.ndarray, genome_ids: np.ndarray) -> np.ndarray:
    """The face model's log likelihood ratios (genomes x candidate faces), genomes in the order
    of ``genome_ids``; refused for models whose score is not a likelihood ratio. ``genomes``:
    the genotype file, already read (each model reads it on its own panel)."""
    if not model.score_is_log_lr:
        raise GenofaceError(
            f"the {model.name} model's match score is not a likelihood ratio, so it cannot be added to the "
            "trait evidence; audit with a demographic, lippert, sero, mahdi or oracle model"
        )
    data, report = genomes.on_panel(model.panel_)
    log.info("alleles (%s face model): %s", model.name, report.summary())
    index = {s: i for i, s in enumerate(np.asarray(data.sample_ids, dtype=str))}
    return model.score_matrix(data.take([index[s] for s in genome_ids]), faces)


def audit_to_folder(
    genotypes: str | os.PathLike,
    candidates: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    baseline_model: str | os.PathLike | None = None,
    traits: str | os.PathLike | None = None,
    assign: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the audit and write ``out/audit.json`` + ``out/audit.html``; returns the audit dict.

    ``traits``: the trait predictor (its directory, or a model directory holding one); default
    the one in ``model``. ``model`` scores the candidates' faces in the "dna + face" condition,
    ``baseline_model`` (e.g. a ``demographic`` model) in "demographics + face". ``assign``: add
    each condition's ``top1_assigned`` (the closed-set joint assignment).
    """
    out, genotypes = check_output(out, overwrite=overwrite), Path(genotypes)
    source = traits if traits is not None else model
    if source is None:
        raise GenofaceError("the audit needs a trait predictor: give --model (trained by genoface train) or --traits")
    predictor = load_trait_predictor(source)
    people = read_candidates(candidates)
    genomes = GenomeFile.read(genotypes)  # read once for every model
    data, report = genomes.on_panel(predictor.panel_)
    face_scores: dict[str, np.ndarray | None] = {}
    notes = []
    for basis, path in (("dna", model), ("demographic", baseline_model)):
        if path is None:
            continue
        if people.faces is None:
            notes.append(f"{people.source} holds no faces: the face conditions were not run")
            break
        face_scores[basis] = face_log_lr(FaceModel.load(path), genomes, people.faces, data.sample_ids)
    result = run_audit(data, people.traits, predictor, face_scores=face_scores, assign=assign)
    audit = result.to_dict()
    audit["notes"] = notes + audit["notes"] + [f"alleles (the trait predictor's panel): {report.summary()}"]
    audit |= {
        "simulated": people.simulated,
        "genotypes": str(genotypes),
        "candidates": people.source,
        "model": None if model is None else str(model),
        "baseline_model": None if baseline_model is None else str(baseline_model),
    }
    write_audit_report(out, audit, overwrite=overwrite)
    return audit
