"""``genoface plan``: how many people does a study need? Train each model on nested subsets of
one cohort (simulated once from a preset at the largest size, or the user's own) and measure
every one on the same held-out people; beside the learning curves, what a linear predictor is
expected to learn (Daetwyler et al. 2008) where the simulation's truth is known."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, check_output
from genoface.evaluate import evaluate_face_model
from genoface.evaluate.learning import (
    DEFAULT_SIZES,
    MIN_TEST,
    MIN_TRAINING,
    PersonErrors,
    check_sizes,
    default_test_size,
    gain_over_baseline,
    nested_split,
    parse_sizes,
    training_set,
)
from genoface.models import fit_model, get_model_class, make_model
from genoface.report.plan import print_plan, write_plan_files
from genoface.simulate import FaceTruth, LinearExpectation, Preset, get_preset, linear_expectation, simulate

__all__ = ["DEFAULT_PLAN_MODELS", "learning_curves", "parse_sizes", "plan_models", "plan_to_folder", "print_plan"]

Progress = Callable[[str, int, int], None]

#: Models ``genoface plan`` trains without ``--models``; the baselines join them by themselves.
DEFAULT_PLAN_MODELS = ("bayes", "lippert")
#: The baseline every model's genetic gain is measured from, and the limit (simulated cohorts).
BASELINE, ORACLE = "demographic", "oracle"
# The metrics of the evaluation protocol that the learning curves follow.
_CURVE_METRICS = ("face_error_mm", "top1", "R10")
# Per-person bootstrap resamples of every interval.
_N_BOOT = 200


def plan_models(models: Sequence[str], *, simulated: bool) -> list[str]:
    """The models to train, in order: the demographic baseline, ``models`` (each once), and the
    oracle on a simulated cohort. Unknown names, and the oracle without a simulation's truth,
    fail here, before any work."""
    names = [m for m in dict.fromkeys(models) if m not in (BASELINE, ORACLE)]
    for name in (*names, BASELINE):
        get_model_class(name)
    if ORACLE in models and not simulated:
        raise GenofaceError("the oracle needs a simulated cohort with its truth/ folder (genoface simulate)")
    return [BASELINE, *names, *([ORACLE] if simulated else [])]


def learning_curves(
    cohort: Cohort,
    *,
    sizes: Sequence[int],
    models: Sequence[str] = DEFAULT_PLAN_MODELS,
    test_size: int,
    seed: int = 0,
    truth: FaceTruth | None = None,
    model_params: Mapping[str, dict] | None = None,
    n_boot: int = _N_BOOT,
    progress: Progress | None = None,
) -> dict:
    """Train every model of :func:`plan_models` on the nested training sets of ``sizes`` and
    measure each on the same ``test_size`` held-out people (:func:`~genoface.evaluate.learning.nested_split`
    with ``seed``), in both settings at all SNPs. The simulation's ``truth``, where there is one,
    brings the oracle, the genetic share and Daetwyler's expectation. Returns what plan.json holds."""
    progress = progress or (lambda stage, done, total: None)
    sizes = check_sizes(sizes)
    names = plan_models(models, simulated=truth is not None)
    test_idx, order = nested_split(cohort.n_samples, test_size, seed)
    if sizes[-1] > len(order):
        raise GenofaceError(_too_large(sizes[-1], cohort.n_samples, test_size))
    test = cohort.subset(test_idx)
    # The oracle learns nothing: it is measured once (beside the smallest set) and drawn at every size.
    learnt = [name for name in names if name != ORACLE]
    fits = [(n, name) for n in sizes for name in learnt] + ([(sizes[0], ORACLE)] if ORACLE in names else [])
    measured, seconds = {}, []
    progress("learning curves", 0, len(fits))
    for done, (n, name) in enumerate(fits, start=1):
        train = cohort.subset(training_set(order, n))
        start = time.perf_counter()
        measured[n, name] = _measure(name, train, test, (model_params or {}).get(name, {}), n_boot, seed, progress)
        seconds.append({"n": n, "model": name, "seconds": round(time.perf_counter() - start, 2)})
        progress("learning curves", done, len(fits))
    expectation = _expectation(truth, cohort, order[: sizes[-1]]) if truth is not None else None
    return {
        "cohort": _cohort_record(cohort),
        "seed": seed,
        "sizes": sizes,
        "test_size": test_size,
        "models": names,
        "results": _rows(sizes, names, measured, expectation, n_boot, seed),
        "daetwyler": None if expectation is None else _daetwyler_record(expectation, sizes),
        "fit_seconds": seconds,
        "test_ids": test.sample_ids.tolist(),
        "training_order": cohort.sample_ids[order].tolist(),
    }


def _measure(name: str, train: Cohort, test: Cohort, params: dict, n_boot: int, seed: int, progress) -> dict:
    """The evaluation protocol's records of model ``name`` fitted on ``train``, and its errors on
    every test person, by setting."""
    model = fit_model(make_model(name, **params), train, progress)
    no_examples = np.arange(0)
    result = evaluate_face_model(
        model, test, fractions=[1.0], shown=no_examples, regions=None, n_boot=n_boot, seed=seed
    )
    errors = {s: PersonErrors(p["face_error_mm"], p["squared_mm2"]) for s, p in result.per_person.items()}
    return {r["setting"]: (r, errors[r["setting"]]) for r in result.records}


def _rows(sizes, names, measured, expectation, n_boot: int, seed: int) -> list[dict]:
    """One row per training size, model and setting: the curve metrics with their intervals,
    and the gain over the demographic baseline trained on the same people."""
    rows = []
    for n in sizes:
        for name in names:
            key = (sizes[0], name) if name == ORACLE else (n, name)
            for setting, (record, errors) in measured[key].items():
                baseline = measured[n, BASELINE][setting][1]
                oracle = measured[sizes[0], ORACLE][setting][1] if ORACLE in names else None
                row = {"n": n, "model": name, "setting": setting}
                for metric in _CURVE_METRICS:
                    row[metric], row[f"{metric}_ci"] = record[metric], tuple(record[f"{metric}_ci"])
                row.update(gain_over_baseline(baseline, errors, oracle, n_boot=n_boot, seed=seed))
                expected = expectation is not None and setting == "dna+cov"
                row["expected_variance_mm2"] = float(expectation.explained(n)) if expected else None
                rows.append(row)
    return rows


def _expectation(truth: FaceTruth, cohort: Cohort, pool: np.ndarray) -> LinearExpectation:
    """Daetwyler's inputs on the largest training set (the people a model learns from)."""
    people = cohort.subset(np.sort(pool))
    groups = people.covariates["population"].to_numpy() if "population" in people.covariates else None
    return linear_expectation(truth, people.genotypes, people.variants["id"].to_numpy(), groups)


def _daetwyler_record(expectation: LinearExpectation, sizes: Sequence[int]) -> dict:
    """plan.json "daetwyler": the formula, its inputs, and the expected curve on a fine grid."""
    h2 = expectation.heritability
    grid = np.unique(np.geomspace(max(1, sizes[0] // 2), 2 * sizes[-1], 60).round().astype(int))
    return {
        "formula": "r²_k = h²_k · N h²_k / (N h²_k + M)",
        "reference": "Daetwyler, Villanueva and Woolliams 2008, PLoS ONE 3:e3395",
        "M": expectation.n_causal,
        "M_means": "the simulation's causal shape SNPs (regional loci and background), each an independent segment",
        "directions": len(h2),
        "genetic_variance_mm2": expectation.total_genetic_variance,
        "heritability_median": float(np.median(h2)),
        "heritability_max": float(h2.max()),
        "heritability": h2.tolist(),
        "direction_variance_mm2": expectation.genetic_variance.tolist(),
        "curve": [
            {"n": int(n), "expected_variance_mm2": float(v)}
            for n, v in zip(grid, expectation.explained(grid), strict=True)
        ],
    }


def _cohort_record(cohort: Cohort) -> dict:
    sim = cohort.meta.get("simulation") or {}
    return {
        "name": cohort.meta.get("name"),
        "simulated": cohort.is_simulated,
        "preset": sim.get("preset"),
        "n_people": cohort.n_samples,
        "n_variants": cohort.n_variants,
        "n_vertices": cohort.n_vertices,
    }


def _too_large(largest: int, n_people: int, test_size: int) -> str:
    return (
        f"a training set of {largest} people does not fit: the cohort has {n_people} people, of whom {test_size} are "
        f"held out for testing, leaving {n_people - test_size}; give smaller --sizes or a smaller --test-size"
    )


def plan_to_folder(
    out: str | os.PathLike,
    *,
    preset: str | Preset | None = None,
    cohort: str | os.PathLike | None = None,
    sizes: Sequence[int] | None = None,
    models: Sequence[str] = DEFAULT_PLAN_MODELS,
    test_size: int | None = None,
    seed: int = 0,
    shape_model=None,
    overwrite: bool = False,
    model_params: Mapping[str, dict] | None = None,
    n_boot: int = _N_BOOT,
    progress: Progress | None = None,
) -> tuple[dict, Path]:
    """Learning curves of ``models`` written to ``out``: plan.tsv, plan.json and plan.html (and,
    from a ``preset``, the simulated cohort in ``out/cohort``), all at once or not at all;
    returns the plan (what plan.json holds) and the page's path.

    Exactly one of ``preset`` (simulated once, at the largest size plus the test people) and
    ``cohort`` (a cohort directory: nested subsets of its people). Without ``sizes``:
    :data:`~genoface.evaluate.learning.DEFAULT_SIZES` (from a cohort, those it holds and then
    all it has). Without ``test_size``: a fifth of everyone, at most 500. Every input is
    checked before any work."""
    if (preset is None) == (cohort is None):
        raise GenofaceError("give either --preset (simulate a cohort) or --cohort (your own cohort), not both")
    sizes = None if sizes is None else check_sizes(sizes)
    if test_size is not None and (isinstance(test_size, bool) or test_size < MIN_TEST):
        raise GenofaceError(f"--test-size must be at least {MIN_TEST} people, got {test_size}")
    plan_models(models, simulated=True)  # unknown names fail before a cohort is read or simulated
    run = dict(models=models, seed=seed, model_params=model_params, n_boot=n_boot, progress=progress)
    if preset is not None:
        preset = get_preset(preset) if isinstance(preset, str) else preset
        check_output(out, overwrite=overwrite)
        with atomic_directory(out, overwrite=overwrite) as tmp:
            plan = _plan_preset(tmp, preset, sizes, test_size, shape_model, run)
            write_plan_files(tmp, plan)
        return plan, Path(out) / "plan.html"
    check_output(out, overwrite=overwrite)
    data = Cohort.load(cohort)
    test_size = test_size or default_test_size(data.n_samples)
    sizes = _cohort_sizes(sizes, data.n_samples, test_size)
    truth = FaceTruth.load(data.truth_dir) if data.is_simulated and data.truth_dir is not None else None
    plan_models(models, simulated=truth is not None)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        plan = learning_curves(data, sizes=sizes, test_size=test_size, truth=truth, **run)
        plan["cohort"]["path"] = str(cohort)
        write_plan_files(tmp, plan)
    return plan, Path(out) / "plan.html"


def _plan_preset(
    folder: Path, preset: Preset, sizes: list[int] | None, test_size: int | None, shape_model, run
) -> dict:
    """Simulate ``preset`` once into ``folder/cohort``, at the largest training size plus the
    test people, and plan on it."""
    sizes = sizes or list(DEFAULT_SIZES)
    # A fifth of everyone simulated (the largest training set and the test people), at most 500.
    test_size = test_size or default_test_size(round(1.25 * sizes[-1]))
    n = sizes[-1] + test_size
    sim = simulate(
        preset, n=n, seed=run["seed"], shape_model=shape_model, out=folder / "cohort", progress=run["progress"]
    )
    plan = learning_curves(sim.cohort, sizes=sizes, test_size=test_size, truth=sim.truth, **run)
    plan["cohort"]["path"] = "cohort"  # inside the output folder
    return plan


def _cohort_sizes(sizes: list[int] | None, n_people: int, test_size: int) -> list[int]:
    """The training sizes on a cohort of ``n_people``: ``sizes``, refused where the largest does
    not fit beside the test people; else the default sizes it holds, then all it has."""
    available = n_people - test_size
    if available < MIN_TRAINING:
        raise GenofaceError(
            f"the cohort has {n_people} people; with {test_size} held out for testing, fewer than {MIN_TRAINING} are "
            "left for training"
        )
    if sizes is None:
        return [s for s in DEFAULT_SIZES if s < available] + [available]
    if sizes[-1] > available:
        raise GenofaceError(_too_large(sizes[-1], n_people, test_size))
    return sizes
