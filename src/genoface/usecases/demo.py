"""``genoface demo``: the main job on the embedded default. Simulate the default cohort, evaluate
every baseline with the protocol, and write one report (cohort, variance decomposition, metrics,
faces)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genoface.core.files import atomic_write_bytes, write_json
from genoface.evaluate import DEFAULT_MODELS, Examples
from genoface.report.demo import demo_page, write_demo_figures
from genoface.report.summary import print_cohort_summary
from genoface.simulate import DEFAULT_PRESET, simulate
from genoface.usecases.evaluate import evaluate_models

__all__ = ["DEMO_MODELS", "DEMO_MODEL_PARAMS", "DemoResult", "print_cohort_summary", "run_demo"]

#: Hyper-parameters of the demo that differ from the models' defaults, to keep it within 10
#: minutes on 2 cores. difface's diffusion prior only draws samples (``sample``), which the demo
#: does not show; its figures come from ``predict`` (the regression head), trained in full.
DEMO_MODEL_PARAMS = {"difface": {"prior_epochs": 50}}
#: The models the demo evaluates: the evaluation's defaults.
DEMO_MODELS = DEFAULT_MODELS


@dataclass
class DemoResult:
    cohort: object
    variance: dict
    metrics: dict
    examples: Examples
    report: Path


def run_demo(
    out: str | os.PathLike, *, seed: int = 0, shape_model=None, model_params: dict | None = None, progress=None
) -> DemoResult:
    """Simulate the default cohort into ``out/cohort`` and write ``out/report.html``
    (``model_params``: hyper-parameters by model name, over :data:`DEMO_MODEL_PARAMS`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = simulate(
        DEFAULT_PRESET, seed=seed, shape_model=shape_model, out=out / "cohort", overwrite=True, progress=progress
    )
    cohort = result.cohort
    params = {name: DEMO_MODEL_PARAMS.get(name, {}) | (model_params or {}).get(name, {}) for name in DEMO_MODELS}
    evaluation = evaluate_models(cohort, models=DEMO_MODELS, seed=seed, model_params=params, progress=progress)
    metrics = evaluation.metrics
    write_json(out / "metrics.json", metrics)
    faces_png, effects_png = write_demo_figures(out, cohort, result.truth)
    report = out / "report.html"
    html_text = demo_page(cohort, result.variance, metrics, evaluation.examples, faces_png, effects_png)
    atomic_write_bytes(report, html_text.encode())
    write_json(out / "summary.json", {"cohort": cohort.summary(), "variance": result.variance})
    return DemoResult(
        cohort=cohort, variance=result.variance, metrics=metrics, examples=evaluation.examples, report=report
    )
