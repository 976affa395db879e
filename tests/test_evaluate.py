"""The evaluation protocol end to end: runner, command line, report, demo."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

import genoface.usecases.evaluate as runner_module
from conftest import FAST_PARAMS
from genoface.cli import app
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate import DEFAULT_MODELS, SETTINGS, example_people, mask_genotypes
from genoface.report import evaluation as report_module
from genoface.report.evaluation import error_scale, evaluation_sections, write_evaluation_report
from genoface.shape import per_vertex_error
from genoface.usecases.evaluate import evaluate_models

runner = CliRunner()


@pytest.fixture(scope="module")
def cohort(sim_strong):
    return Cohort.load(sim_strong.cohort.path)


@pytest.fixture(scope="module")
def fitted():
    """The models evaluate_models fits, by name (filled by ``evaluation``)."""
    return {}


@pytest.fixture(scope="module")
def evaluation(cohort, fitted):
    def make_and_keep(name, **params):
        fitted[name] = real_make_model(name, **params)
        return fitted[name]

    real_make_model = runner_module.make_model
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner_module, "make_model", make_and_keep)
        return evaluate_models(cohort, snp_fractions=(1.0, 0.3), n_boot=100, seed=0, model_params=FAST_PARAMS)


@pytest.fixture(scope="module")
def metrics(evaluation):
    return evaluation.metrics


def test_one_record_per_model_setting_and_fraction(metrics):
    results = metrics["results"]
    assert len(results) == len(DEFAULT_MODELS) * len(SETTINGS) * 2
    keys = {"face_error_mm", "face_error_mm_aligned", "top1", "R1", "R10", "R20", "select10", "auc", "eer"}
    for r in results:
        assert keys <= set(r) and {"model", "setting", "snp_fraction"} <= set(r)
        lo, hi = r["face_error_mm_ci"]
        assert lo <= r["face_error_mm"] <= hi
        assert set(r["region_error_mm"]) == {"nose", "eyes", "mouth", "chin", "cheeks", "forehead"}
    assert metrics["cohort"]["simulated"] and metrics["cohort"]["n_test"] == 300


def test_baselines_order_and_missing_snps_hurt(metrics):
    get = {(r["model"], r["setting"], r["snp_fraction"]): r for r in metrics["results"]}
    for setting in SETTINGS:
        err = {m: get[(m, setting, 1.0)]["face_error_mm"] for m in ("mean", "demographic", "oracle")}
        assert err["oracle"] < err["demographic"] < err["mean"]
        assert get[("oracle", setting, 1.0)]["top1"] > 10 * get[("oracle", setting, 1.0)]["chance_top1"]
        assert get[("oracle", setting, 0.3)]["face_error_mm"] > get[("oracle", setting, 1.0)]["face_error_mm"]
    # The mean face knows nothing about the genome: identification at chance.
    assert get[("mean", "dna", 1.0)]["R10"] == pytest.approx(0.1, abs=0.02)
    # Covariates help.
    assert get[("oracle", "dna+cov", 1.0)]["face_error_mm"] < get[("oracle", "dna", 1.0)]["face_error_mm"]


def test_comparisons_and_shares_come_from_the_same_records(metrics):
    errors = {
        r["model"]: r["face_error_mm"]
        for r in metrics["results"]
        if r["snp_fraction"] == 1.0 and r["setting"] == "dna+cov"
    }
    learnt = [m for m in DEFAULT_MODELS if m not in ("mean", "oracle")]
    compared = [c for c in metrics["comparisons"] if c["setting"] == "dna+cov" and c["metric"] == "face_error_mm"]
    assert sorted(c["model"] for c in compared) == sorted(learnt)
    for c in compared:
        best_other = min((m for m in learnt if m != c["model"]), key=errors.get)
        assert c["versus"] == best_other
        # The mean of per-person differences is the difference of the means.
        assert c["difference"] == pytest.approx(errors[c["model"]] - errors[best_other], abs=1e-9)
        lo, hi = c["difference_ci"]
        assert lo <= c["difference"] <= hi
    shares = {s["model"]: s for s in metrics["shares"]}
    assert shares["oracle"]["genetic_share"] == pytest.approx(1.0) and shares["demographic"]["genetic_share"] == 0
    assert shares["mean"]["gain_share"] == 0
    for name in learnt:
        expected = (errors["mean"] - errors[name]) / (errors["mean"] - errors["oracle"])
        assert shares[name]["gain_share"] == pytest.approx(expected)


def test_masking_keeps_the_requested_share():
    g = np.ones((200, 500), dtype=np.int8)
    masked = mask_genotypes(g, 0.7, np.random.default_rng(0))
    assert (masked >= 0).mean() == pytest.approx(0.7, abs=0.01)
    assert mask_genotypes(g, 1.0, np.random.default_rng(0)) is g


def test_cli_evaluate_writes_metrics_and_report(sim_strong, tmp_path):
    out = tmp_path / "report"
    r = runner.invoke(
        app, ["evaluate", "--cohort", str(sim_strong.cohort.path), "--models", "mean,oracle", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert {x["model"] for x in m["results"]} == {"mean", "oracle"}
    html = (out / "report.html").read_text()
    assert "SIMULATED DATA" in html and "face_error_mm" in html and html.count("data:image/png;base64") >= 2
    # The face panels: 4 people x 2 models in the report, no face arrays in metrics.json.
    assert html.count('<figure class="face-panel"') == 4 * 2
    # ... and the same people in three.js viewers: the bundle inlined once, each person's meshes
    # (true face, 2 models x 2 settings) as base64 arrays in a JSON script, nothing fetched.
    assert html.count('<div class="face-compare"') == 4 and html.count("window.genofaceReport") == 1
    meshes = re.findall(r'<script type="application/json" id="face-meshes-\d+">(.*?)</script>', html)
    payload = json.loads(meshes[0])
    assert [(p["model"], p["setting"]) for p in payload["predictions"]] == [
        (model, setting) for model in ("mean", "oracle") for setting in ("dna", "dna+cov")
    ]
    error = np.frombuffer(base64.b64decode(payload["predictions"][2]["error_mm"]), dtype="<f4")
    assert len(error) == payload["n_vertices"] and error.min() >= 0
    assert set(m) == {"cohort", "results", "comparisons", "shares", "traits", "audit"}
    assert "examples" not in json.dumps(m)
    # Neither model is learnt, and without the demographic baseline there is no genetic share.
    assert m["comparisons"] == [] and m["shares"] == []
    assert all(set(x) >= {"model", "setting", "snp_fraction"} and "predicted" not in x for x in m["results"])
    # Traits: held-out figures per basis, predicted traits beside each example person, and the
    # audit (no lippert / demographic evaluated here, so only the trait conditions run).
    eye = {r["basis"]: r for r in m["traits"] if r["trait"] == "eye_colour"}
    assert eye["dna"]["log_loss"] < eye["marginal"]["log_loss"]
    assert html.count("Predicted from the genome:") == 4 and "Re-identification audit" in html
    assert "not_run" in m["audit"]["conditions"]["dna + face"] and "select" in m["audit"]["conditions"]["dna"]


def test_cli_evaluate_unknown_model_fails_before_any_work(sim_strong, tmp_path):
    out = tmp_path / "report"
    r = runner.invoke(
        app, ["evaluate", "--cohort", str(sim_strong.cohort.path), "--models", "mean,nope", "--out", str(out)]
    )
    assert r.exit_code == 1 and "unknown model 'nope'" in r.output
    assert not out.exists()


def test_demo_writes_one_report(tmp_path, monkeypatch):
    import genoface.usecases.demo as demo
    from genoface.shape import builtin_shape_model

    # The pipeline end to end with three of the models (each model's fit is tested on its own;
    # all seven here would double this test's time). The demo's own list is the default one.
    assert demo.DEMO_MODELS is DEFAULT_MODELS
    monkeypatch.setattr(demo, "DEMO_MODELS", ("mean", "lippert", "oracle"))
    result = demo.run_demo(tmp_path / "demo", shape_model=builtin_shape_model(), model_params=FAST_PARAMS)
    html = result.report.read_text()
    assert "SIMULATED DATA" in html and "select10" in html
    assert "Test people: true, predicted, error" in html
    assert result.examples.n_people == 4 and list(result.examples.predicted) == ["mean", "lippert", "oracle"]
    assert html.count('<figure class="face-panel"') == 4 * 3
    assert (tmp_path / "demo" / "metrics.json").exists() and (tmp_path / "demo" / "cohort" / "cohort.json").exists()


# ---- example faces and the report's face panels ----------------------------------------------------


@pytest.fixture(scope="module")
def split(cohort):
    """(train, test) as evaluate_models splits the cohort with its defaults (seed 0)."""
    return cohort.split(0.2, 0)


def test_examples_are_seeded_test_people(split, evaluation):
    _, test = split
    ex = evaluation.examples
    assert ex.n_people == 4 and len(set(ex.sample_ids)) == 4
    assert set(ex.sample_ids) <= set(test.sample_ids)
    np.testing.assert_array_equal(test.sample_ids[ex.indices], ex.sample_ids)
    assert list(ex.covariates.index) == list(ex.sample_ids)
    np.testing.assert_array_equal(ex.true_faces, test.faces[ex.indices])
    # Reproducible for a seed, another draw for another seed.
    np.testing.assert_array_equal(example_people(test.n_samples, 4, 0), ex.indices)
    assert not np.array_equal(example_people(test.n_samples, 4, 1), ex.indices)
    assert len(example_people(5, 4, 0)) == 4 and len(example_people(3, 4, 0)) == 3


def test_examples_follow_the_seed_end_to_end(split):
    train, test = split
    small = test.subset(np.arange(40))

    def ids(seed: int, fractions=(0.5,)) -> list:
        run = evaluate_models(
            train,
            models=("mean",),
            test_cohort=small,
            snp_fractions=fractions,
            n_boot=2,
            seed=seed,
            n_examples=3,
            traits=False,  # the trait predictor and the audit are tested elsewhere, and cost 15 s a run
        )
        return list(run.examples.sample_ids)

    first = ids(0)
    assert len(first) == 3 and first == ids(0, fractions=(1.0,)) and first != ids(1)


def test_examples_hold_model_predictions_and_their_errors(split, evaluation, fitted):
    _, test = split
    ex = evaluation.examples
    people = test.subset(ex.indices)
    assert list(ex.predicted) == list(fitted) == list(DEFAULT_MODELS)
    for name, model in fitted.items():
        assert list(ex.predicted[name]) == list(SETTINGS)
        for setting in SETTINGS:
            covariates = people.covariates if setting == "dna+cov" else None
            np.testing.assert_allclose(ex.predicted[name][setting], model.predict(people, covariates), atol=1e-9)
            np.testing.assert_array_equal(
                ex.errors[name][setting], per_vertex_error(ex.predicted[name][setting], ex.true_faces)
            )
    # The settings differ where covariates matter.
    assert not np.allclose(ex.predicted["oracle"]["dna"], ex.predicted["oracle"]["dna+cov"])


def test_no_examples_and_bad_counts(split):
    train, test = split
    small = test.subset(np.arange(20))
    run = evaluate_models(
        train, models=("mean",), test_cohort=small, snp_fractions=(1.0,), n_boot=2, n_examples=0, traits=False
    )
    assert run.examples.n_people == 0 and "Test people" not in evaluation_sections(run.metrics, run.examples)
    for bad in (-1, 2.5, True):
        with pytest.raises(GenofaceError, match="n_examples"):
            evaluate_models(train, models=("mean",), test_cohort=small, n_examples=bad)


def test_report_has_one_panel_per_person_and_model_on_one_scale(evaluation, tmp_path, monkeypatch):
    ex = evaluation.examples
    # Two people and two models keep the rendering quick.
    two = replace(
        ex,
        indices=ex.indices[:2],
        sample_ids=ex.sample_ids[:2],
        covariates=ex.covariates.iloc[:2],
        true_faces=ex.true_faces[:2],
        predicted={m: {s: p[:2] for s, p in ex.predicted[m].items()} for m in ("mean", "oracle")},
        errors={m: {s: e[:2] for s, e in ex.errors[m].items()} for m in ("mean", "oracle")},
    )
    scales = []
    real = report_module.render_faces_png

    def spy(meshes, triangles, **kwargs):
        scales.append((kwargs["vmin"], kwargs["vmax"]))
        return real(meshes, triangles, **kwargs)

    monkeypatch.setattr(report_module, "render_faces_png", spy)
    path = write_evaluation_report(tmp_path / "report", evaluation.metrics, examples=two)
    html = path.read_text()

    assert "Test people: true, predicted, error" in html and "simulated" in html
    panels = re.findall(r'<figure class="face-panel" data-person="([^"]+)" data-model="([^"]+)"[^>]*>\s*<img ', html)
    assert sorted(panels) == sorted((str(p), m) for p in two.sample_ids for m in ("mean", "oracle"))
    for sample_id in two.sample_ids:  # the title names the person and their covariates
        c = two.covariates.loc[sample_id]
        assert f"<h4>{sample_id}: {c['population']}, {c['sex']}, {c['age']:.0f} y" in html
    # One colour scale for every heatmap, as rendered and as stated, covering most of the errors.
    vmin, vmax = error_scale(two)
    assert scales == [(vmin, vmax)] * 4 and vmin == 0.0
    assert set(re.findall(r'data-vmin="([^"]+)" data-vmax="([^"]+)"', html)) == {(f"{vmin:g}", f"{vmax:g}")}
    assert f"{vmin:.1f} to {vmax:.1f} mm" in html
    all_errors = np.concatenate([e.ravel() for by in two.errors.values() for e in by.values()])
    assert (all_errors <= vmax).mean() >= 0.99
    # The honest-comparison tables, one row per comparison and per model.
    assert "Paired comparisons" in html and html.count("not resolved</td>") + html.count("better</td>") + html.count(
        "worse</td>"
    ) == len(evaluation.metrics["comparisons"])
    assert "Share of the gap to the oracle" in html
    # metrics.json holds the metrics only.
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(written) == {"cohort", "results", "comparisons", "shares", "training", "traits", "audit"}
    assert written == json.loads(json.dumps(evaluation.metrics))
    assert set(written["training"]) == {"difface", "mahdi"}  # loss curves of the models trained by epochs


def test_the_command_line_default_is_the_default_model_list():
    import inspect

    from genoface import cli

    default = inspect.signature(cli.evaluate).parameters["models"].default
    assert tuple(default.split(",")) == DEFAULT_MODELS
