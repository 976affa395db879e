"""The demo's report: the simulated people, what the simulator's map does, and the evaluation."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from genoface.evaluate import Examples
from genoface.report.evaluation import evaluation_sections, page
from genoface.report.summary import cohort_overview, variance_rows
from genoface.shape import render_faces


def write_demo_figures(out: Path, cohort, truth) -> tuple[Path, Path]:
    """``out/faces.png`` (the template and four simulated people) and ``out/effects.png`` (the
    mean face moved along the simulated sex and age effects)."""
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
    return faces_png, effects_png


def _person_title(cohort, i: int) -> str:
    c = cohort.covariates.iloc[i]
    return f"{cohort.sample_ids[i]}: {c['population']} {c['sex']} {c['age']:.0f} y, BMI {c['bmi']:.0f}"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def demo_page(cohort, variance: dict, metrics: dict, examples: Examples, faces_png: Path, effects_png: Path) -> str:
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
