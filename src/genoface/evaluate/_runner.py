"""The evaluation protocol's steps: split, mask, and measure a fitted model on held-out people in
both settings and at every SNP fraction, with bootstrap confidence intervals. The use case that
runs them for every model, with the traits and the audit, is ``genoface.usecases.evaluate``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate._metrics import (
    bootstrap_ci,
    cllr,
    cllr_min,
    identification_metrics,
    rank_threshold,
    ranks,
    select_among,
    top1_assigned,
)
from genoface.models import FaceModel
from genoface.shape import REGION_NAMES, aligned_error, per_vertex_error, region_errors, segment_regions

SETTINGS = ("dna", "dna+cov")
SNP_FRACTIONS = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1)
DEFAULT_MODELS = ("mean", "demographic", "lippert", "sero", "mahdi", "difface", "bayes", "oracle")
# Seed stream of the example people, apart from the SNP-mask streams ([seed, 1000 * fraction]).
_EXAMPLES_STREAM = 1_000_003


@dataclass(frozen=True)
class Examples:
    """Faces of a few held-out people at full SNP coverage, for the report's face panels.

    Arrays, not metrics: they never go into metrics.json. ``predicted[model][setting]`` is
    (k, V, 3) in mm, the rows of ``model.predict`` on the test people at ``indices``;
    ``errors[model][setting]`` is their :func:`~genoface.shape.per_vertex_error` (k, V).
    """

    indices: np.ndarray  # (k,) positions in the test cohort
    sample_ids: np.ndarray  # (k,)
    covariates: pd.DataFrame  # k rows: the test covariates of these people
    true_faces: np.ndarray  # (k, V, 3)
    triangles: np.ndarray  # (T, 3), the cohort's template triangles
    predicted: dict[str, dict[str, np.ndarray]]
    errors: dict[str, dict[str, np.ndarray]]
    simulated: bool
    traits: pd.DataFrame | None = None  # k rows: the predicted traits (genoface.traits) of these people

    @property
    def n_people(self) -> int:
        return len(self.sample_ids)


@dataclass(frozen=True)
class EvaluationResult:
    """What ``genoface.usecases.evaluate_models`` returns: ``metrics`` (JSON-ready, the layout of metrics.json)
    and ``examples`` (face arrays for the report)."""

    metrics: dict
    examples: Examples


def example_people(n_test: int, n_examples: int, seed: int) -> np.ndarray:
    """Positions (sorted) of ``min(n_examples, n_test)`` test people: a seeded random draw."""
    perm = np.random.default_rng([seed, _EXAMPLES_STREAM]).permutation(n_test)
    return np.sort(perm[: min(n_examples, n_test)])


def split_for_evaluation(
    cohort: Cohort, test_cohort: Cohort | None, test_fraction: float, seed: int
) -> tuple[Cohort, Cohort]:
    """(train, test): all of ``cohort`` against ``test_cohort``, else a seeded split."""
    if test_cohort is None:
        return cohort.split(test_fraction, seed)
    if test_cohort.n_vertices != cohort.n_vertices:
        raise GenofaceError(
            f"the test cohort's faces have {test_cohort.n_vertices} vertices, the training cohort's {cohort.n_vertices}"
        )
    return cohort, test_cohort


def mask_genotypes(genotypes: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A copy in which each call is kept with probability ``fraction`` and set missing otherwise."""
    if fraction >= 1.0:
        return genotypes
    g = np.array(genotypes, dtype=np.int8, copy=True)
    g[rng.random(g.shape) >= fraction] = -1
    return g


def template_regions(cohort: Cohort) -> np.ndarray | None:
    """Region label per template vertex, from the template landmarks in cohort.json if any."""
    landmarks = cohort.meta.get("template_landmarks")
    if not landmarks:
        return None
    return segment_regions(np.asarray(cohort.template_vertices, dtype=float), {k: int(v) for k, v in landmarks.items()})


def check_protocol(snp_fractions: Sequence[float], n_examples: int) -> list[float]:
    """The SNP fractions, largest first, after refusing fractions outside (0, 1] and a
    ``n_examples`` that is not a whole number >= 0."""
    fractions = sorted({float(f) for f in snp_fractions}, reverse=True)
    if not fractions or fractions[0] > 1 or fractions[-1] <= 0:
        raise GenofaceError(f"SNP fractions must lie in (0, 1], got {list(snp_fractions)}")
    if isinstance(n_examples, bool) or not isinstance(n_examples, (int, np.integer)) or n_examples < 0:
        raise GenofaceError(f"n_examples must be a whole number >= 0, got {n_examples!r}")
    return fractions


@dataclass
class ModelEvaluation:
    """What :func:`evaluate_face_model` measures of one fitted model on the test people."""

    records: list[dict]  # one per setting and SNP fraction (the rows of metrics.json "results")
    predicted: dict[str, np.ndarray]  # setting -> (k, V, 3) faces of the example people, all SNPs
    dna_scores: np.ndarray | None  # the score matrix of the "dna" setting at all SNPs, if a log LR
    # setting -> metric -> one value per test person at all SNPs (paired comparisons, learning curves)
    per_person: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def evaluate_face_model(
    model: FaceModel,
    test: Cohort,
    *,
    fractions: Sequence[float],
    shown: np.ndarray,
    regions: np.ndarray | None,
    n_boot: int,
    seed: int,
    step: Callable[[], None] = lambda: None,
) -> ModelEvaluation:
    """Face error and identification metrics of ``model`` on ``test`` in both settings and at
    every SNP fraction (calls masked with the seed stream of that fraction); ``step`` is called
    after each (setting, fraction)."""
    faces = np.asarray(test.faces, dtype=np.float64)
    out = ModelEvaluation(records=[], predicted={}, dna_scores=None)
    for setting in SETTINGS:
        covariates = test.covariates if setting == "dna+cov" else None
        for fraction in fractions:
            rng = np.random.default_rng([seed, int(round(fraction * 1000))])
            masked = replace(test, genotypes=mask_genotypes(test.genotypes, fraction, rng))
            pred = model.predict(masked, covariates)
            scores = model.score_matrix(masked, faces, covariates)
            vertex_error = per_vertex_error(pred, faces)  # (n, V)
            record = {"model": model.name, "setting": setting, "snp_fraction": fraction}
            record.update(_face_metrics(pred, faces, vertex_error, regions, n_boot, seed))
            record.update(_match_metrics(scores, n_boot, seed, log_lr=model.score_is_log_lr))
            if fraction == 1.0:
                out.predicted[setting] = np.asarray(pred[shown], dtype=np.float64)
                out.per_person[setting] = {
                    "face_error_mm": vertex_error.mean(axis=1),
                    "squared_mm2": (vertex_error**2).sum(axis=1),  # its mean: the variance left unexplained
                    "top1": (np.asarray(record["ranks"]) == 1).astype(float),
                }
                if setting == "dna" and model.score_is_log_lr:
                    out.dna_scores = scores
            out.records.append(record)
            step()
        if setting not in out.predicted:  # 1.0 is not among the fractions
            out.predicted[setting] = np.asarray(model.predict(test, covariates)[shown], dtype=np.float64)
    return out


def make_examples(
    cohort: Cohort, test: Cohort, shown: np.ndarray, predicted: dict[str, dict[str, np.ndarray]], traits=None
) -> Examples:
    """The report's face panels: the true and predicted faces of the ``shown`` test people and
    their per-vertex errors."""
    true_faces = np.asarray(test.faces, dtype=np.float64)[shown]
    return Examples(
        indices=shown,
        sample_ids=np.asarray(test.sample_ids)[shown],
        covariates=test.covariates.iloc[shown].copy(),
        true_faces=true_faces,
        triangles=np.asarray(cohort.template_triangles),
        predicted=predicted,
        errors={
            name: {setting: per_vertex_error(p, true_faces) for setting, p in by_setting.items()}
            for name, by_setting in predicted.items()
        },
        simulated=bool(cohort.is_simulated),
        traits=traits,
    )


def cohort_record(
    cohort: Cohort, train: Cohort, test: Cohort, test_cohort: Cohort | None, test_fraction: float, seed: int
) -> dict:
    """metrics.json "cohort": what was evaluated, on how many people, with which seed."""
    return {
        "name": cohort.meta.get("name"),
        "simulated": bool(cohort.is_simulated),
        "n_train": train.n_samples,
        "n_test": test.n_samples,
        "n_variants": cohort.n_variants,
        "n_vertices": cohort.n_vertices,
        "seed": seed,
        "test_cohort": None if test_cohort is None else test_cohort.meta.get("name"),
        "test_fraction": None if test_cohort is not None else test_fraction,
    }


def _face_metrics(
    pred: np.ndarray, faces: np.ndarray, err: np.ndarray, regions: np.ndarray | None, n_boot: int, seed: int
) -> dict:
    """Face error figures of the predictions ``pred`` of ``faces``, whose per-vertex error is ``err``."""
    per_person = err.mean(axis=1)
    aligned = aligned_error(pred, faces).mean(axis=1)
    out = {
        "face_error_mm": float(per_person.mean()),
        "face_error_mm_ci": bootstrap_ci(np.mean, values=per_person, n_boot=n_boot, seed=seed),
        "face_error_mm_aligned": float(aligned.mean()),
    }
    if regions is not None:
        out["region_error_mm"] = region_errors(err, regions, REGION_NAMES)
    return out


def _match_metrics(scores: np.ndarray, n_boot: int, seed: int, log_lr: bool = False) -> dict:
    """Identification metrics, the closed-set joint assignment's top1 and, for a model whose
    score is a log likelihood ratio, its cost cllr (chance level 1.0) and the cost of its
    discrimination alone, cllr_min."""
    out = identification_metrics(scores)
    out["top1_assigned"] = top1_assigned(scores, seed)
    if log_lr:
        out["cllr"], out["chance_cllr"] = cllr(scores), 1.0
        out["cllr_min"] = cllr_min(scores)
    r = ranks(scores)
    n = len(r)
    per_person = {
        "top1": (r == 1).astype(float),
        "R10": (r <= rank_threshold(0.10, n)).astype(float),
        "select10": select_among(r, n, 10) if n >= 10 else None,
    }
    for key, values in per_person.items():
        if values is not None:
            out[f"{key}_ci"] = bootstrap_ci(np.mean, values=values, n_boot=n_boot, seed=seed)
    out["ranks"] = r.tolist()
    return out
