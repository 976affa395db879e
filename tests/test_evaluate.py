"""The evaluation protocol end to end: runner, command line, report, demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from genoface.cli import app
from genoface.cohort import Cohort
from genoface.evaluate import SETTINGS, evaluate_models, mask_genotypes

runner = CliRunner()


@pytest.fixture(scope="module")
def metrics(sim_realistic):
    cohort = Cohort.load(sim_realistic.cohort.path)
    return evaluate_models(cohort, snp_fractions=(1.0, 0.3), n_boot=100, seed=0)


def test_one_record_per_model_setting_and_fraction(metrics):
    results = metrics["results"]
    assert len(results) == 4 * len(SETTINGS) * 2
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


def test_masking_keeps_the_requested_share():
    g = np.ones((200, 500), dtype=np.int8)
    masked = mask_genotypes(g, 0.7, np.random.default_rng(0))
    assert (masked >= 0).mean() == pytest.approx(0.7, abs=0.01)
    assert mask_genotypes(g, 1.0, np.random.default_rng(0)) is g


def test_cli_evaluate_writes_metrics_and_report(sim_realistic, tmp_path):
    out = tmp_path / "report"
    r = runner.invoke(
        app, ["evaluate", "--cohort", str(sim_realistic.cohort.path), "--models", "mean,oracle", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert {x["model"] for x in m["results"]} == {"mean", "oracle"}
    html = (out / "report.html").read_text()
    assert "SIMULATED DATA" in html and "face_error_mm" in html and html.count("data:image/png;base64") >= 2


def test_cli_evaluate_unknown_model_fails_before_any_work(sim_realistic, tmp_path):
    out = tmp_path / "report"
    r = runner.invoke(
        app, ["evaluate", "--cohort", str(sim_realistic.cohort.path), "--models", "mean,nope", "--out", str(out)]
    )
    assert r.exit_code == 1 and "unknown model 'nope'" in r.output
    assert not out.exists()


def test_demo_writes_one_report(tmp_path):
    from genoface.report.demo import run_demo
    from genoface.shape import builtin_shape_model

    result = run_demo(tmp_path / "demo", shape_model=builtin_shape_model())
    html = result.report.read_text()
    assert "SIMULATED DATA" in html and "select10" in html
    assert (tmp_path / "demo" / "metrics.json").exists() and (tmp_path / "demo" / "cohort" / "cohort.json").exists()
