"""The HTML reports (Jinja2 templates, autoescaped): names that people and files supply are escaped,
and each page is one self-contained file. Small hand-made inputs keep it quick."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import trimesh
from matplotlib.figure import Figure

from genoface.evaluate import Examples
from genoface.report.audit import audit_section, write_audit_report
from genoface.report.demo import demo_page
from genoface.report.evaluation import evaluation_sections, face_viewer_script, write_evaluation_report
from genoface.simulate import COMPONENTS

HOSTILE = "<script>alert('x')</script> & \"co\""
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;co&#34;"
MODEL = "mean<b>&"


def _record(model: str, setting: str, fraction: float) -> dict:
    return {
        "model": model, "setting": setting, "snp_fraction": fraction, "gallery_size": 3, "ranks": [1, 2, 3],
        "face_error_mm": 2.5, "face_error_mm_ci": [2.0, 3.0], "face_error_mm_aligned": 2.25,
        "top1": 0.5, "R1": 0.5, "R10": 1.0, "R20": 1.0, "select10": 0.4, "auc": 0.75, "eer": 0.25,
        "chance_top1": 1 / 3, "chance_R1": 1 / 3, "chance_R10": 1.0, "chance_R20": 1.0, "chance_select10": 0.1,
        "chance_auc": 0.5, "chance_eer": 0.5, "region_error_mm": {"nose": 1.5, "eyes<&>": 2.0},
    }  # fmt: skip


def _audit() -> dict:
    ran = {"gallery_size": 3, "top1": 0.5, "chance_top1": 1 / 3, "R1": 0.5, "chance_R1": 1 / 3}
    ran |= {"R10": 1.0, "chance_R10": 1.0, "select": {2: 0.75, 3: 0.5}}
    return {
        "n_owners_present": 3, "n_candidates": 3, "traits_used": ["sex", HOSTILE], "simulated": True,
        "conditions": {HOSTILE: ran, "dna + face": {"not_run": f"{HOSTILE} holds no faces"}},
        "notes": [f"note about {HOSTILE}"], "candidates": HOSTILE, "face_model": HOSTILE, "baseline_face_model": None,
    }  # fmt: skip


def _metrics() -> dict:
    cohort = {"name": HOSTILE, "n_train": 1234, "n_test": 3, "seed": 0, "n_variants": 10, "n_vertices": 42}
    results = [_record(MODEL, s, f) for s in ("dna", "dna+cov") for f in (1.0, 0.5)]
    traits = [{"trait": "eye_colour", "basis": HOSTILE, "accuracy": 0.5, "log_loss": 0.7}]
    return {"cohort": cohort | {"simulated": True}, "results": results, "traits": traits, "audit": _audit()}


@pytest.fixture
def examples() -> Examples:
    sphere = trimesh.creation.icosphere(subdivisions=1, radius=80.0)
    rng = np.random.default_rng(0)
    true = np.asarray(sphere.vertices)[None] + rng.normal(scale=1.0, size=(2, len(sphere.vertices), 3))
    ids = np.array([HOSTILE, "P&2"], dtype=object)
    covariates = pd.DataFrame({"sex": ["F", "M"], "age": [30.0, 40.0]}, index=ids)
    predicted = {MODEL: {"dna": true + 1.0}}
    errors = {MODEL: {"dna": np.linalg.norm(predicted[MODEL]["dna"] - true, axis=2)}}
    return Examples(
        indices=np.arange(2), sample_ids=ids, covariates=covariates, true_faces=true,
        triangles=np.asarray(sphere.faces), predicted=predicted, errors=errors, simulated=True,
    )  # fmt: skip


def _assert_escaped_and_self_contained(html: str) -> None:
    # The only scripts: the face viewers' meshes (JSON with "<", ">" and "&" escaped) and the
    # viewer bundle itself, inlined once.
    meshes = re.findall(r'<script type="application/json" id="face-meshes-\d+">([^<]*)</script>', html)
    assert all(json.loads(m) for m in meshes)
    html = re.sub(r'<script type="application/json" id="face-meshes-\d+">[^<]*</script>', "", html)
    html = html.replace(f"<script>{face_viewer_script()}</script>", "", 1 if meshes else 0)
    assert HOSTILE not in html and "<script" not in html and MODEL not in html
    assert ESCAPED in html
    # One self-contained file: no external scripts, stylesheets or images, every image inline.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.IGNORECASE)
    assert "<link" not in html
    sources = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "SIMULATED DATA" in html and "Predictions are probabilistic." in html


def test_evaluation_report_escapes_names_and_is_one_file(tmp_path, examples):
    path = write_evaluation_report(tmp_path / "report", _metrics(), examples=examples)
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json", "report.html"]
    html = path.read_text()
    _assert_escaped_and_self_contained(html)
    assert f'data-person="{ESCAPED}" data-model="mean&lt;b&gt;&amp;"' in html
    assert f"<h4>{ESCAPED}: F, 30 y</h4>" in html and "<h4>P&amp;2: M, 40 y</h4>" in html
    assert f"Cohort {ESCAPED}: trained on 1,234 people" in html and "<th>eyes&lt;&amp;&gt;</th>" in html
    assert "2.50 <span class=chance>[2.00, 3.00]</span>" in html  # the figures read as before
    assert f"<td>{ESCAPED}</td><td>0.500</td><td>0.500</td><td>1.000</td><td>0.750</td><td></td><td></td>" in html
    assert f"<code>{ESCAPED}</code> (dna) and <code>None</code> (demographics)" in html
    # The same body without the page around it, and without face panels.
    body = evaluation_sections(_metrics())
    assert ESCAPED in body and "<html" not in body and "face-panel" not in body


def test_audit_report_escapes_names_and_is_one_file(tmp_path):
    path = write_audit_report(tmp_path / "audit", _audit())
    html = path.read_text()
    _assert_escaped_and_self_contained(html)
    assert f"<td colspan=7>not run: {ESCAPED} holds no faces</td>" in html
    assert f"<li>note about {ESCAPED}</li>" in html and f"Traits on record: sex, {ESCAPED}." in html
    assert "<html" not in audit_section(_audit())


def test_demo_page_escapes_the_cohort_name(tmp_path, tiny_cohort, examples):
    pngs = []
    for name in ("faces", "effects"):
        fig = Figure(figsize=(1, 1))
        fig.subplots().plot([0, 1])
        fig.savefig(tmp_path / f"{name}.png")
        pngs.append(tmp_path / f"{name}.png")
    tiny_cohort.meta["name"] = HOSTILE
    variance = {"requested": dict.fromkeys(COMPONENTS, 0.1), "realized": dict.fromkeys([*COMPONENTS, "total"], 0.1)}
    html = demo_page(tiny_cohort, variance, _metrics(), examples, *pngs)
    _assert_escaped_and_self_contained(html)
    assert f"<tr><th>cohort</th><td>{ESCAPED}</td></tr>" in html
    assert '<img alt="faces" src="data:image/png;base64,' in html
