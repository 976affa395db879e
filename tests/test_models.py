"""The model protocol, checked on every registered model (today: the oracle)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import FAST_PARAMS
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate import identification_metrics
from genoface.models import FaceModel, available_models, make_model
from genoface.simulate import GeneticArchitecture, GenomeLayout, Preset, simulate


@pytest.fixture(scope="module")
def cohort(sim_strong) -> Cohort:
    return Cohort.load(sim_strong.cohort.path)


@pytest.fixture(scope="module")
def split(cohort) -> tuple[Cohort, Cohort]:
    return cohort.split(0.2, seed=0)


@pytest.fixture(scope="module", params=available_models())
def fitted(request, split) -> tuple[str, FaceModel]:
    """Each registered model fitted once on the training split (fits are the suite's cost)."""
    name = request.param
    return name, make_model(name, **FAST_PARAMS.get(name, {})).fit(split[0])


def test_fit_predict_shapes_and_determinism(fitted, split, cohort):
    name, model = fitted
    train, test = split
    a = model.predict(test)
    b = make_model(name, **FAST_PARAMS.get(name, {})).fit(train).predict(test)
    assert a.shape == (test.n_samples, cohort.n_vertices, 3)
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(fitted, split, tmp_path):
    _, model = fitted
    model.save(tmp_path / "m")
    loaded = FaceModel.load(tmp_path / "m")
    assert type(loaded) is type(model)
    test = split[1].subset(np.arange(20))
    np.testing.assert_array_equal(loaded.predict(test, test.covariates), model.predict(test, test.covariates))
    np.testing.assert_array_equal(loaded.score_matrix(test, test.faces), model.score_matrix(test, test.faces))


def test_faces_from_another_template_are_refused(fitted, split):
    _, model = fitted
    test = split[1].subset(np.arange(5))
    with pytest.raises(GenofaceError, match="vertex template"):
        model.score_matrix(test, test.faces[:, :-1])


@pytest.mark.parametrize("name", available_models())
def test_unfitted_model_refuses_to_predict(name, cohort):
    with pytest.raises(GenofaceError, match="not fitted"):
        make_model(name, **FAST_PARAMS.get(name, {})).predict(cohort)


def test_score_matrix_ranks_the_true_face_high(cohort):
    # The oracle with covariates should put most people's own face near the top.
    test = cohort.subset(np.arange(200))
    s = make_model("oracle").fit(cohort).score_matrix(test, test.faces, test.covariates)
    rank = 1 + (s > np.diag(s)[:, None]).sum(axis=1)
    assert s.shape == (200, 200)
    assert np.median(rank) <= 10


def test_oracle_likelihood_ratio_carries_no_information_without_genetic_effects(tmp_path):
    """With no genetic effect on the face, one population and no sex effect, a genome tells
    (almost) nothing about a face: the oracle's log-likelihood ratio must be near 0 for true
    and false pairs alike, and identification near chance. (BMI's polygenic score is the one
    genetic signal left: a fraction of a nat.)"""
    preset = Preset(
        "no-genetics",
        "test",
        {"CEU": 300},
        GenomeLayout(contig_lengths=(1_000_000,) * 2, x_length=500_000, maf=0.02),
        {"age": 0.08, "bmi": 0.06},
        architecture=GeneticArchitecture(n_regional_loci=0, n_background_snps=0),
    )
    cohort = simulate(preset, seed=3, out=tmp_path / "c").cohort
    test = cohort.subset(np.arange(150))
    s = make_model("oracle").fit(cohort).score_matrix(test, test.faces)
    genuine, impostor = np.diag(s), s[~np.eye(len(s), dtype=bool)]
    assert abs(genuine.mean()) < 0.5 and abs(impostor.mean()) < 0.5, (genuine.mean(), impostor.mean())
    assert identification_metrics(s)["R10"] < 0.3  # chance: 0.1


def test_oracle_likelihood_ratio_beats_the_plain_likelihood(cohort):
    """Ranking faces by P(face | genome) favours faces near the mean (hubs); the ratio to
    P(face) is the optimal score and must identify at least as well."""
    train, test = cohort.split(0.2, seed=0)
    oracle = make_model("oracle").fit(train)
    ratio = oracle.score_matrix(test, test.faces)
    likelihood = ratio + oracle.marginal_log_density(test.faces)[None, :]
    a, b = identification_metrics(ratio), identification_metrics(likelihood)
    assert a["R10"] >= b["R10"] and a["top1"] > b["top1"], (a, b)


def test_loading_never_unpickles(cohort, tmp_path):
    model = make_model("oracle").fit(cohort)
    path = model.save(tmp_path / "m")
    # Replace the weights with a pickled object array: loading must refuse, not execute it.
    with open(path / "weights.npz", "wb") as fh:
        np.save(fh, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(GenofaceError, match="corrupt or unreadable"):
        FaceModel.load(path)


def test_corrupt_or_foreign_model_directory(cohort, tmp_path):
    with pytest.raises(GenofaceError, match="not a genoface model directory"):
        FaceModel.load(tmp_path)
    path = make_model("oracle").fit(cohort).save(tmp_path / "m")
    (path / "model.json").write_text("{ not json")
    with pytest.raises(GenofaceError, match="corrupt model configuration"):
        FaceModel.load(path)
    path2 = make_model("oracle").fit(cohort).save(tmp_path / "m2")
    cfg = json.loads((path2 / "model.json").read_text())
    cfg["model"] = "no-such-model"
    (path2 / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(GenofaceError, match="unknown model 'no-such-model'"):
        FaceModel.load(path2)


def test_unknown_model_name():
    with pytest.raises(
        GenofaceError,
        match="unknown model .nope.; choose one of: bayes, demographic, difface, lippert, mahdi, mean, oracle, sero",
    ):
        make_model("nope")


def test_oracle_needs_simulation_truth(tiny_cohort):
    with pytest.raises(GenofaceError, match="simulated cohort"):
        make_model("oracle").fit(tiny_cohort)


def test_oracle_handles_missing_snps(cohort):
    oracle = make_model("oracle").fit(cohort)
    test = cohort.subset(np.arange(100))
    g = np.array(test.genotypes, copy=True)
    rng = np.random.default_rng(0)
    g[rng.random(g.shape) < 0.5] = -1
    masked = replace(test, genotypes=g)
    full = oracle.predict(test, test.covariates)
    half = oracle.predict(masked, test.covariates)
    err = lambda p: np.linalg.norm(p - test.faces, axis=2).mean()  # noqa: E731
    assert np.isfinite(half).all()
    assert err(full) < err(half) < err(np.broadcast_to(cohort.faces.mean(0), test.faces.shape))


def test_baselines_are_ordered_mean_demographic_oracle(cohort):
    train, test = cohort.split(0.2, seed=1)
    err = lambda p: np.linalg.norm(p - test.faces, axis=2).mean()  # noqa: E731
    fitted = {
        name: make_model(name, **FAST_PARAMS.get(name, {})).fit(train) for name in ("mean", "demographic", "oracle")
    }
    for covariates in (None, test.covariates):
        e = {name: err(m.predict(test, covariates)) for name, m in fitted.items()}
        assert e["oracle"] < e["demographic"] < e["mean"], e
    # The demographic model's genetic sex agrees with the recorded sex.
    male = fitted["demographic"].demographics_.transform(test, None).male
    assert ((male >= 0.5) == (test.covariates["sex"].to_numpy() == "M")).mean() > 0.99


def test_lippert_learns_strong_loci_that_demographics_miss():
    from genoface.simulate import simulate
    from genoface.usecases.evaluate import evaluate_models

    cohort = simulate("oligogenic", n=800, seed=4).cohort
    res = evaluate_models(cohort, models=("demographic", "lippert"), snp_fractions=(1.0,), n_boot=10, seed=0)
    get = {(r["model"], r["setting"]): r for r in res.metrics["results"]}
    for setting in ("dna", "dna+cov"):
        assert get[("lippert", setting)]["R10"] > get[("demographic", setting)]["R10"] + 0.2
        assert get[("lippert", setting)]["face_error_mm"] < get[("demographic", setting)]["face_error_mm"]
