"""The demo's report: the simulated people, what the simulator's map does, and the evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genoface.evaluate import Examples
from genoface.report._page import png_data_uri, render
from genoface.report.evaluation import evaluation_view
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


def _png_file(path: Path) -> dict:
    """A PNG file as an inline image, named by its file name."""
    return {"src": png_data_uri(path.read_bytes()), "alt": path.stem}


def demo_page(cohort, variance: dict, metrics: dict, examples: Examples, faces_png: Path, effects_png: Path) -> str:
    """The demo's report (templates/demo.html): the evaluation, the cohort, its variance
    decomposition and the figures of :func:`write_demo_figures`."""
    return render(
        "demo.html",
        evaluation=evaluation_view(metrics, examples),
        overview=cohort_overview(cohort),
        variance=variance_rows(variance),
        faces=_png_file(faces_png),
        effects=_png_file(effects_png),
    )
