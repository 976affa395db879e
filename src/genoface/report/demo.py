"""The main job on the embedded default: simulate the default cohort, evaluate every baseline
with the protocol, and write one report (cohort, variance decomposition, metrics, faces)."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genoface.core.files import atomic_write_bytes, write_json
from genoface.evaluate import DEFAULT_MODELS, Examples, evaluate_models
from genoface.report.evaluation import evaluation_sections, page
from genoface.report.summary import cohort_overview, variance_rows
from genoface.shape.render import render_faces
from genoface.simulate import DEFAULT_PRESET, simulate


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
    (``model_params``: hyper-parameters by model name, defaults otherwise)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = simulate(
        DEFAULT_PRESET, seed=seed, shape_model=shape_model, out=out / "cohort", overwrite=True, progress=progress
    )
    cohort, truth = result.cohort, result.truth
    evaluation = evaluate_models(cohort, models=DEFAULT_MODELS, seed=seed, model_params=model_params, progress=progress)
    metrics = evaluation.metrics
    write_json(out / "metrics.json", metrics)
    tri = cohort.template_triangles

    people = np.linspace(0, cohort.n_samples - 1, 4).astype(int)
    faces_png = out / "faces.png"
    render_faces(
        faces_png,
        [cohort.template_vertices, *cohort.faces[people]],
        tri,
        titles=["template (mean)", *(_person_title(cohort, i) for i in people)],
        views=("front", "three_quarter", "profile"),
    )
    # What the simulator's map does: the mean face moved along the sex and age effects.
    mean = truth.mean
    ages = (20.0, 50.0, 80.0)
    effect_faces = [
        (mean - 0.5 * truth.sex_direction).reshape(-1, 3),
        (mean + 0.5 * truth.sex_direction).reshape(-1, 3),
        *((mean + truth.age_function(np.array([a]))[0] * truth.age_direction).reshape(-1, 3) for a in ages),
    ]
    effects_png = out / "effects.png"
    render_faces(
        effects_png,
        effect_faces,
        tri,
        titles=["female", "male", *(f"age {a:.0f}" for a in ages)],
        views=("front", "profile"),
    )
    report = out / "report.html"
    html_text = _html(cohort, result.variance, metrics, evaluation.examples, faces_png, effects_png)
    atomic_write_bytes(report, html_text.encode())
    write_json(out / "summary.json", {"cohort": cohort.summary(), "variance": result.variance})
    return DemoResult(
        cohort=cohort, variance=result.variance, metrics=metrics, examples=evaluation.examples, report=report
    )


def _person_title(cohort, i: int) -> str:
    c = cohort.covariates.iloc[i]
    return f"{cohort.sample_ids[i]}: {c['population']} {c['sex']} {c['age']:.0f} y, BMI {c['bmi']:.0f}"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html(cohort, variance: dict, metrics: dict, examples: Examples, faces_png: Path, effects_png: Path) -> str:
    overview = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in cohort_overview(cohort)
    )
    var = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{r:.3f}</td><td>{z:.3f}</td></tr>" for n, r, z in variance_rows(variance)
    )
    body = (
        "<h1>genoface demo</h1>"
        + evaluation_sections(metrics, examples)
        + f"<h2>Cohort</h2><table>{overview}</table>"
        + "<h2>Sources of facial shape variance</h2><p>Share of total shape variance (trace of the vertex "
        "covariance) that each source was asked for and what the simulated faces realized.</p>"
        + f"<table><tr><th>component</th><th>requested</th><th>realized</th></tr>{var}</table>"
        + f"<h2>Simulated people</h2>{_img(faces_png)}"
        + "<h2>What the simulated map does</h2><p>The mean face moved along the simulated sex and age effects "
        f"(ages 20, 50 and 80).</p>{_img(effects_png)}"
    )
    return page("genoface demo (simulated)", body)
