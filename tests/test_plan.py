"""genoface plan: nested training sets measured on one fixed test set, learning curves with
intervals, and Daetwyler's expectation checked against hand-computed values and the truth."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import genoface.usecases.plan as plan_module
from conftest import FAST_PARAMS
from genoface.cli import app
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate.learning import default_test_size, nested_split, parse_sizes, training_set
from genoface.genetics import align_dosages
from genoface.report.plan import TSV_COLUMNS
from genoface.shape import builtin_shape_model
from genoface.simulate import (
    FaceTruth,
    GeneticArchitecture,
    GenomeLayout,
    LinearExpectation,
    Preset,
    daetwyler_r2,
    linear_expectation,
)
from genoface.usecases.plan import plan_to_folder

runner = CliRunner()

#: Two populations on a 3 Mb genome, 10 strong loci and 50 background SNPs: simulates in seconds,
#: and a hundred training people learn something.
TINY = Preset(
    "tiny",
    "test",
    {"CEU": 100, "YRI": 100},
    GenomeLayout(contig_lengths=(1_000_000,) * 2, x_length=1_000_000),
    {"ancestry": 0.1, "sex": 0.1, "age": 0.08, "bmi": 0.05, "genetic": 0.4},
    architecture=GeneticArchitecture(
        n_regional_loci=10, n_background_snps=50, regional_share=0.8, effect_shape=2.0, min_maf=0.1
    ),
)
SIZES, TEST_SIZE = [60, 120], 40


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """A plan of bayes and lippert on TINY, with every training and test set that was used."""
    out = tmp_path_factory.mktemp("plan") / "plan"
    trained, tested = {}, []
    real_fit, real_evaluate = plan_module.fit_model, plan_module.evaluate_face_model

    def fit(model, cohort, progress=None):
        trained.setdefault(model.name, []).append(list(cohort.sample_ids))
        return real_fit(model, cohort, progress)

    def evaluate(model, test, **kwargs):
        tested.append(list(test.sample_ids))
        return real_evaluate(model, test, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plan_module, "fit_model", fit)
        mp.setattr(plan_module, "evaluate_face_model", evaluate)
        plan, page = plan_to_folder(
            out,
            preset=TINY,
            sizes=SIZES,
            test_size=TEST_SIZE,
            seed=1,
            shape_model=builtin_shape_model(),
            models=["bayes", "lippert"],
            model_params=FAST_PARAMS,
            n_boot=50,
        )
    return {"out": out, "plan": plan, "page": page, "trained": trained, "tested": tested}


@pytest.fixture(scope="module")
def own_cohort(planned, tmp_path_factory):
    """The planned cohort as a user's own: no simulation, no truth."""
    cohort = Cohort.load(planned["out"] / "cohort")
    own = replace(cohort, meta={**cohort.meta, "simulated": False, "name": "own"}, path=None)
    return own.save(tmp_path_factory.mktemp("own") / "own")


# ---- nested training sets, one test set ----------------------------------------------------------


def test_training_sets_are_nested_and_every_model_meets_the_same_test_people(planned):
    tested, trained = planned["tested"], planned["trained"]
    assert len(tested) == 2 * 3 + 1  # demographic, bayes, lippert at each size; the oracle once
    assert all(t == tested[0] for t in tested) and len(tested[0]) == TEST_SIZE
    assert tested[0] == planned["plan"]["test_ids"]
    for name in ("demographic", "bayes", "lippert"):
        small, large = trained[name]
        assert [len(small), len(large)] == SIZES
        assert set(small) < set(large) and not set(large) & set(tested[0])
        assert (small, large) == (trained["demographic"][0], trained["demographic"][1])  # same people per size
    order = planned["plan"]["training_order"]
    assert set(trained["bayes"][1]) == set(order[: SIZES[1]])


def test_nested_split_is_seeded_and_disjoint():
    test, order = nested_split(300, 50, seed=3)
    assert len(test) == 50 and len(order) == 250 and not set(test) & set(order)
    assert np.array_equal(np.sort(np.concatenate([test, order])), np.arange(300))
    same_test, same_order = nested_split(300, 50, seed=3)
    assert np.array_equal(test, same_test) and np.array_equal(order, same_order)
    assert not np.array_equal(nested_split(300, 50, seed=4)[0], test)
    assert set(training_set(order, 100)) < set(training_set(order, 200))
    assert default_test_size(12_500) == 500 and default_test_size(1000) == 200 and default_test_size(30) == 10


# ---- the table, the page ----------------------------------------------------------------------------


def test_the_table_has_one_row_per_size_model_and_setting(planned):
    table = pd.read_csv(planned["out"] / "plan.tsv", sep="\t")
    assert tuple(table.columns) == TSV_COLUMNS
    assert len(table) == len(SIZES) * 4 * 2
    assert set(table["model"]) == {"demographic", "bayes", "lippert", "oracle"}
    for metric in ("face_error_mm", "top1", "R10", "genome_variance_mm2"):
        assert (table[f"{metric}_lo"] <= table[metric] + 1e-9).all() and (
            table[metric] <= table[f"{metric}_hi"] + 1e-9
        ).all()
    share = table.set_index(["model", "setting", "n"])["genetic_share"]
    assert (share["demographic"] == 0).all() and np.allclose(share["oracle"], 1.0)
    # The oracle learns nothing: measured once, the same at every size.
    oracle = table[table["model"] == "oracle"].groupby("setting")["face_error_mm"].nunique()
    assert (oracle == 1).all()
    # Daetwyler's expectation (dna+cov only) grows with the training size.
    expected = table[(table["model"] == "bayes")].set_index("setting")["expected_variance_mm2"]
    assert expected["dna"].isna().all() and expected["dna+cov"].is_monotonic_increasing
    assert (expected["dna+cov"] > 0).all()


def test_the_page_and_json_say_which_formula_and_m(planned):
    plan = json.loads((planned["out"] / "plan.json").read_text())
    assert plan["sizes"] == SIZES and plan["test_size"] == TEST_SIZE
    assert plan["daetwyler"]["M"] == 10 + 50
    html = planned["page"].read_text()
    assert html.count("data:image/png;base64") == 2 and 'src="http' not in html
    assert "r²_k = h²_k · N h²_k / (N h²_k + M)" in html and "M = 60" in html and "SIMULATED DATA" in html
    assert (planned["out"] / "cohort" / "truth" / "face_model.npz").is_file()


# ---- Daetwyler ------------------------------------------------------------------------------------


def test_daetwyler_formula_against_hand_computed_values():
    # h² = 0.5, N = 1000, M = 500: N h² = 500, r² = 0.5 · 500 / 1000.
    assert daetwyler_r2(0.5, 1000, 500) == pytest.approx(0.25)
    # h² = 0.2, N = 2000, M = 1000: N h² = 400, r² = 0.2 · 400 / 1400.
    assert daetwyler_r2(0.2, 2000, 1000) == pytest.approx(0.2 * 400 / 1400)
    assert daetwyler_r2(0.3, 0, 10) == 0 and daetwyler_r2(0.3, 1e12, 10) == pytest.approx(0.3)
    # Two directions: variance 2 + 2 (h² 1/2) and 1 + 3 (h² 1/4); N = 1000, M = 500:
    # 4 · 0.25 + 4 · (0.25 · 250 / 750) = 1 + 1/3 mm².
    e = LinearExpectation(genetic_variance=np.array([2.0, 1.0]), residual_variance=np.array([2.0, 3.0]), n_causal=500)
    assert e.explained(1000) == pytest.approx(4 / 3)
    assert e.explained(np.array([1000, 1e12])) == pytest.approx([4 / 3, 3.0])


def test_the_expectation_holds_all_the_genetic_variance_of_the_truth(planned):
    cohort = Cohort.load(planned["out"] / "cohort")
    truth = FaceTruth.load(cohort.truth_dir)
    ids, pops = cohort.variants["id"].to_numpy(), cohort.covariates["population"].to_numpy()
    e = linear_expectation(truth, cohort.genotypes, ids, pops)
    # Directly, in all 3V coordinates: the genetic values centred within populations.
    g = truth.genetic_value(align_dosages(cohort.genotypes, ids, truth.shape_snps))
    for p in np.unique(pops):
        g[pops == p] -= g[pops == p].mean(axis=0)
    assert e.total_genetic_variance == pytest.approx((g**2).sum() / len(g), rel=1e-8)
    assert e.n_causal == 60 and (e.heritability > 0).all() and (e.heritability < 1).all()


# ---- bad input: one line, before any work --------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(plan_module, "simulate", refuse)
    monkeypatch.setattr(plan_module, "fit_model", refuse)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("200,100", "must increase"),
        ("100,100", "must increase"),
        ("0,100", "at least 50"),
        ("20,100", "at least 50"),
        ("a,100", "whole numbers"),
        ("", "at least one"),
    ],
)
def test_bad_sizes(text, message):
    with pytest.raises(GenofaceError, match=message):
        parse_sizes(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": [50, 500]}, "does not fit"),
        ({"models": ["lippert", "nope"]}, "unknown model 'nope'"),
        ({"models": ["oracle"]}, "the oracle needs a simulated cohort"),
        ({"test_size": 5}, "at least 10"),
        ({"preset": "han"}, "not both"),
    ],
)
def test_bad_input_fails_before_any_work(own_cohort, tmp_path, no_work, kwargs, message):
    with pytest.raises(GenofaceError, match=message):
        plan_to_folder(tmp_path / "out", cohort=own_cohort, **kwargs)
    assert not (tmp_path / "out").exists()


def test_an_existing_output_or_preset_typo_fails_before_simulating(tmp_path, no_work):
    (tmp_path / "out").mkdir()
    with pytest.raises(GenofaceError, match="already exists"):
        plan_to_folder(tmp_path / "out", preset="han", sizes=[100, 200])
    with pytest.raises(GenofaceError, match="unknown preset"):
        plan_to_folder(tmp_path / "other", preset="hann", sizes=[100, 200])


def test_a_failure_leaves_no_output(own_cohort, tmp_path, monkeypatch):
    calls = []

    def fail_second(model, cohort, progress=None):
        calls.append(model.name)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return model.fit(cohort)

    monkeypatch.setattr(plan_module, "fit_model", fail_second)
    with pytest.raises(RuntimeError, match="disk on fire"):
        plan_to_folder(tmp_path / "out", cohort=own_cohort, sizes=[50], models=["lippert"])
    assert list(tmp_path.iterdir()) == []


# ---- the command line -------------------------------------------------------------------------------


def test_cli_plan_on_your_own_cohort(own_cohort, tmp_path):
    out = tmp_path / "plan"
    args = ["plan", "--cohort", str(own_cohort), "--sizes", "50,80", "--test-size", "30", "--models", "lippert"]
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "No linear expectation" in r.output and "plan.html" in r.output
    table = pd.read_csv(out / "plan.tsv", sep="\t")
    assert set(table["model"]) == {"demographic", "lippert"} and sorted(set(table["n"])) == [50, 80]
    assert table["genetic_share"].isna().all() and table["expected_variance_mm2"].isna().all()
    html = (out / "plan.html").read_text()
    assert "No linear expectation is drawn" in html and "SIMULATED DATA" not in html
    # Again without --overwrite: refused, one line.
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 1 and "already exists" in r.output and len(r.output.strip().splitlines()) == 1


def test_cli_plan_bad_sizes_one_line(tmp_path):
    r = runner.invoke(app, ["plan", "--preset", "han", "--sizes", "1000,500", "--out", str(tmp_path / "p")])
    assert r.exit_code == 1 and "training sizes must increase" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "p").exists()
