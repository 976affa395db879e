"""The evaluation protocol: train each model on the training people, evaluate on held-out
people in both settings and at every SNP fraction, with bootstrap confidence intervals."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from genoface.cohort import Cohort
from genoface.errors import GenofaceError
from genoface.evaluate._metrics import bootstrap_ci, identification_metrics, rank_threshold, ranks, select_among
from genoface.models import make_model
from genoface.shape import REGION_NAMES, aligned_error, per_vertex_error, region_errors, segment_regions

log = logging.getLogger(__name__)

SETTINGS = ("dna", "dna+cov")
SNP_FRACTIONS = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1)
DEFAULT_MODELS = ("mean", "demographic", "lippert", "oracle")
Progress = Callable[[str, int, int], None]


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


def evaluate_models(
    cohort: Cohort,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    test_cohort: Cohort | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    snp_fractions: Sequence[float] = SNP_FRACTIONS,
    n_boot: int = 200,
    progress: Progress | None = None,
) -> dict:
    """Run the protocol; returns ``{"cohort": {...}, "results": [...]}`` (DESIGN.md metric names)."""
    progress = progress or (lambda stage, done, total: None)
    fractions = sorted({float(f) for f in snp_fractions}, reverse=True)
    if not fractions or fractions[0] > 1 or fractions[-1] <= 0:
        raise GenofaceError(f"SNP fractions must lie in (0, 1], got {list(snp_fractions)}")
    train, test = split_for_evaluation(cohort, test_cohort, test_fraction, seed)
    if test.n_samples < 10:
        raise GenofaceError(f"only {test.n_samples} test people; the protocol needs at least 10")
    regions = template_regions(cohort)
    faces = np.asarray(test.faces, dtype=np.float64)
    results = []
    total = len(models) * len(SETTINGS) * len(fractions)
    done = 0
    for name in models:
        model = make_model(name).fit(train)
        for setting in SETTINGS:
            covariates = test.covariates if setting == "dna+cov" else None
            for fraction in fractions:
                rng = np.random.default_rng([seed, int(round(fraction * 1000))])
                masked = replace(test, genotypes=mask_genotypes(test.genotypes, fraction, rng))
                pred = model.predict(masked, covariates)
                scores = model.score_matrix(masked, faces, covariates)
                record = {"model": name, "setting": setting, "snp_fraction": fraction}
                record.update(_face_metrics(pred, faces, regions, n_boot, seed))
                record.update(_match_metrics(scores, n_boot, seed))
                results.append(record)
                done += 1
                progress("evaluating", done, total)
    return {
        "cohort": {
            "name": cohort.meta.get("name"),
            "simulated": bool(cohort.is_simulated),
            "n_train": train.n_samples,
            "n_test": test.n_samples,
            "n_variants": cohort.n_variants,
            "n_vertices": cohort.n_vertices,
            "seed": seed,
            "test_cohort": None if test_cohort is None else test_cohort.meta.get("name"),
            "test_fraction": None if test_cohort is not None else test_fraction,
        },
        "results": results,
    }


def _face_metrics(pred: np.ndarray, faces: np.ndarray, regions: np.ndarray | None, n_boot: int, seed: int) -> dict:
    err = per_vertex_error(pred, faces)  # (n, V)
    per_person = err.mean(axis=1)
    aligned = aligned_error(pred, faces).mean(axis=1)
    out = {
        "face_error_mm": float(per_person.mean()),
        "face_error_mm_ci": bootstrap_ci(lambda i: per_person[i].mean(), len(per_person), n_boot=n_boot, seed=seed),
        "face_error_mm_aligned": float(aligned.mean()),
    }
    if regions is not None:
        out["region_error_mm"] = region_errors(err, regions, REGION_NAMES)
    return out


def _match_metrics(scores: np.ndarray, n_boot: int, seed: int) -> dict:
    out = identification_metrics(scores)
    r = ranks(scores)
    n = len(r)
    per_person = {
        "top1": (r == 1).astype(float),
        "R10": (r <= rank_threshold(0.10, n)).astype(float),
        "select10": select_among(r, n, 10) if n >= 10 else None,
    }
    for key, values in per_person.items():
        if values is not None:
            out[f"{key}_ci"] = bootstrap_ci(lambda i, v=values: v[i].mean(), n, n_boot=n_boot, seed=seed)
    out["ranks"] = r.tolist()
    return out
