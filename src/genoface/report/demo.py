"""The main job on the embedded default: simulate the default cohort and write a report.

The report grows with the pipeline; today it shows the simulated cohort, its variance
decomposition and rendered faces.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genoface._fs import atomic_write_bytes, write_json
from genoface.report.summary import cohort_overview, variance_rows
from genoface.shape.render import render_faces
from genoface.simulate import DEFAULT_PRESET, simulate


@dataclass
class DemoResult:
    cohort: object
    variance: dict
    report: Path


def run_demo(out: str | os.PathLike, *, seed: int = 0, shape_model=None, progress=None) -> DemoResult:
    """Simulate the default cohort into ``out/cohort`` and write ``out/report.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = simulate(
        DEFAULT_PRESET, seed=seed, shape_model=shape_model, out=out / "cohort", overwrite=True, progress=progress
    )
    cohort, truth = result.cohort, result.truth
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
    atomic_write_bytes(report, _html(cohort, result.variance, faces_png, effects_png).encode())
    write_json(out / "summary.json", {"cohort": cohort.summary(), "variance": result.variance})
    return DemoResult(cohort=cohort, variance=result.variance, report=report)


def _person_title(cohort, i: int) -> str:
    c = cohort.covariates.iloc[i]
    return f"{cohort.sample_ids[i]}: {c['population']} {c['sex']} {c['age']:.0f} y, BMI {c['bmi']:.0f}"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html(cohort, variance: dict, faces_png: Path, effects_png: Path) -> str:
    overview = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in cohort_overview(cohort)
    )
    var = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{r:.3f}</td><td>{z:.3f}</td></tr>" for n, r, z in variance_rows(variance)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genoface demo (simulated)</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
.banner {{ background: #fff3cd; border: 1px solid #e0c36c; padding: .6em 1em; font-weight: 600; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>genoface demo</h1>
<p class="banner">SIMULATED DATA. Every genome, face and trait here comes from genoface's simulator
(coalescent genomes from stdpopsim/msprime, faces from a known genotype-to-face map). No real person is shown.</p>
<h2>Cohort</h2><table>{overview}</table>
<h2>Sources of facial shape variance</h2>
<p>Share of total shape variance (trace of the vertex covariance) that each source was asked for and
what the simulated faces realized.</p>
<table><tr><th>component</th><th>requested</th><th>realized</th></tr>{var}</table>
<h2>Simulated people</h2>{_img(faces_png)}
<h2>What the simulated map does</h2>
<p>The mean face moved along the simulated sex and age effects (ages 20, 50 and 80).</p>{_img(effects_png)}
<p><small>Predictions are probabilistic. Faces shown are simulated. genoface {html.escape(str(cohort.meta.get("simulation", {}).get("genoface_version", "")))}</small></p>
</body></html>
"""
