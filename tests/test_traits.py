"""Trait prediction: the IrisPlex model form against hand computation, allele orientation of the
panels, calibration of the trained classifiers and intervals, and the predictor bundle on a
simulated cohort measured against the simulator's exact trait probabilities."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.io import GenotypeData
from genoface.simulate import TraitTruth, trait_probabilities
from genoface.traits import (
    EYE_COLOURS,
    IRISPLEX_SNPS,
    CategoricalTrait,
    GaussianTrait,
    TraitPredictor,
    irisplex_from_spec,
    load_irisplex_coefficients,
    load_trait_predictor,
    panel_counts,
)

# ---- IrisPlex model form ------------------------------------------------------------------------

# Test coefficients (made up for the hand computation; not the published ones).
_INTERCEPTS = {"blue": 1.0, "intermediate": -0.5}
_COEFS = {"blue": [-2.0, 0.5, 0, 0, 0, 0], "intermediate": [-1.0, 0.25, 0, 0, 0, 0]}


def test_irisplex_form_by_hand():
    model = CategoricalTrait.from_coefficients(EYE_COLOURS, "brown", _INTERCEPTS, _COEFS)
    # counts (1, 2, 0, ...): blue log-odds 1 - 2 + 1 = 0; intermediate -0.5 - 1 + 0.5 = -1; brown 0.
    # P = (1, e^-1, 1) / (2 + e^-1) = (0.42232, 0.15536, 0.42232).
    p = model.predict_proba(np.array([[1, 2, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=float))
    np.testing.assert_allclose(p[0], [0.422319, 0.155362, 0.422319], atol=1e-6)
    # counts 0: log-odds (1, -0.5, 0): P = (e, e^-0.5, 1) / (e + e^-0.5 + 1) = (2.71828, 0.60653, 1) / 4.32481.
    np.testing.assert_allclose(p[1], [0.628532, 0.140244, 0.231224], atol=1e-6)


def _irisplex_spec(tmp_path):
    snps = [{"id": s, "counted": "G", "other": "A", "blue": 0.0, "intermediate": 0.0} for s in IRISPLEX_SNPS]
    for key in ("blue", "intermediate"):
        snps[0][key], snps[1][key] = _COEFS[key][0], _COEFS[key][1]
    snps[1]["counted"], snps[1]["other"] = "C", "T"
    spec = {"source": "test values", "reference": "brown", "intercepts": _INTERCEPTS, "snps": snps}
    path = tmp_path / "irisplex.json"
    path.write_text(json.dumps(spec))
    return path


def test_irisplex_coefficient_file_reads_alleles_in_either_orientation(tmp_path):
    model, panel = irisplex_from_spec(load_irisplex_coefficients(_irisplex_spec(tmp_path)))
    # The table has SNP 1 as REF G / ALT A (counted allele = REF) and SNP 2 on the other strand
    # (A/G, so the counted C is the complement of REF G).
    variants = pd.DataFrame(
        {"chrom": ["15", "15"], "pos": [1, 2], "id": list(IRISPLEX_SNPS[:2]), "ref": ["G", "G"], "alt": ["A", "A"]}
    )
    data = GenotypeData(np.array(["p"]), np.array([[1, 0]], dtype=np.int8), variants)
    counts = panel_counts(data.genotypes, data.variants, *panel)
    np.testing.assert_array_equal(counts[0, :2], [1, 2])  # 2 - 1 copies of G; 2 - 0 copies of C (= G)
    assert np.isnan(counts[0, 2:]).all()  # not typed
    np.testing.assert_allclose(model.predict_proba(counts)[0], [0.422319, 0.155362, 0.422319], atol=1e-6)


def test_irisplex_coefficient_file_errors(tmp_path):
    path = _irisplex_spec(tmp_path)
    spec = json.loads(path.read_text())
    spec["snps"] = spec["snps"][:5]
    path.write_text(json.dumps(spec))
    with pytest.raises(GenofaceError, match=r"irisplex\.json.*six IrisPlex SNPs"):
        load_irisplex_coefficients(path)


def test_panel_counts_orientation_cases():
    variants = pd.DataFrame(
        {
            "chrom": ["1"] * 5,
            "pos": [1, 2, 3, 4, 5],
            "id": ["alt", "ref", "flip", "atsnp", "bad"],
            "ref": ["C", "C", "C", "A", "C"],
            "alt": ["T", "T", "T", "T", "T"],
        }
    )
    g = np.array([[0, 0, 0, 0, 0], [2, 1, 2, 2, 1], [-1, 2, 1, 1, 0]], dtype=np.int8)
    counted = np.array(["T", "C", "A", "T", "G"])  # ALT; REF; complement of ALT T; A/T as written; fits neither
    other = np.array(["C", "T", "G", "A", "T"])
    c = panel_counts(g, variants, np.array(["alt", "ref", "flip", "atsnp", "bad"]), counted, other)
    np.testing.assert_array_equal(c[:, 0], [0, 2, np.nan])
    np.testing.assert_array_equal(c[:, 1], [2, 1, 0])
    np.testing.assert_array_equal(c[:, 2], [0, 2, 1])
    np.testing.assert_array_equal(c[:, 3], [0, 2, 1])
    assert np.isnan(c[:, 4]).all()


# ---- calibration of the two model forms ---------------------------------------------------------


def _reliability(p: np.ndarray, y: np.ndarray, bins: int = 10, min_count: int = 200) -> tuple[float, float]:
    """Over probability bins with at least ``min_count`` cases (pooled over categories), the
    largest |mean predicted - observed frequency|, and the largest such gap in units of its
    binomial standard error (what sampling alone would give)."""
    p, hit = p.ravel(), (y[:, None] == np.arange(p.shape[1])[None, :]).ravel()
    edges = np.minimum((p * bins).astype(int), bins - 1)
    gap, z = 0.0, 0.0
    for b in range(bins):
        inside = edges == b
        if inside.sum() >= min_count:
            mean_p = p[inside].mean()
            d = abs(mean_p - hit[inside].mean())
            gap, z = max(gap, d), max(z, d / np.sqrt(max(mean_p * (1 - mean_p), 1e-3) / inside.sum()))
    return gap, z


def test_categorical_trait_recovers_a_known_model_and_is_calibrated():
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.binomial(2, [0.2, 0.5, 0.7], size=(n, 3)).astype(float)
    true_coef = np.array([[1.5, -0.5, 0.0], [0.5, 0.0, 0.8], [0.0, 0.0, 0.0]])
    logits = x @ true_coef.T + np.array([-1.0, -0.5, 0.0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    cats = ["a", "b", "c"]
    model = CategoricalTrait(cats, reference="c").fit(x[:15000], np.array(cats)[y[:15000]])
    np.testing.assert_allclose(model.coef_, true_coef, atol=0.12)
    assert model.reference == "c" and np.all(model.coef_[2] == 0)
    assert _reliability(model.predict_proba(x[15000:]), y[15000:])[0] < 0.04


def test_categorical_trait_errors():
    with pytest.raises(GenofaceError, match="unknown categories"):
        CategoricalTrait(["a", "b"]).fit(np.zeros((4, 1)), ["a", "b", "z", "a"])
    with pytest.raises(GenofaceError, match="two observed categories"):
        CategoricalTrait(["a", "b"]).fit(np.zeros((4, 1)), ["a"] * 4)


def test_gaussian_trait_interval_covers_95_percent_of_new_people():
    rng = np.random.default_rng(1)
    n, k = 4000, 150  # many weak features: in-sample residuals would be too narrow
    x = rng.binomial(2, 0.3, size=(n, k)).astype(float)
    y = 170 + x[:, :5] @ np.array([2.0, -1.5, 1.0, 0.5, 1.2]) + rng.normal(0, 5, n)
    model = GaussianTrait().fit(x[:2000], y[:2000])
    mean, sd = model.predict(x[2000:])
    covered = np.abs(y[2000:] - mean) <= 1.96 * sd
    assert 0.93 <= covered.mean() <= 0.97
    assert 4.5 < sd[0] < 6.0


# ---- the predictor bundle on a simulated cohort ---------------------------------------------------


@pytest.fixture(scope="module")
def fitted(sim_strong):
    cohort = Cohort.load(sim_strong.cohort.path)
    train, test = cohort.split(0.3, seed=0)
    return TraitPredictor().fit(train), train, test, cohort


def _true_probabilities(cohort: Cohort, test: Cohort) -> dict[str, np.ndarray]:
    truth = TraitTruth(**json.loads((cohort.path / "truth" / "traits.json").read_text()))
    cols = pd.Index(test.variants["id"]).get_indexer(truth.panel_ids)
    return trait_probabilities(
        truth, np.asarray(test.genotypes[:, cols], dtype=float), test.covariates["population"].to_numpy()
    )


def _log_loss(p: np.ndarray, labels: np.ndarray, categories: list[str]) -> float:
    y = pd.Index(categories).get_indexer(labels)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))


def test_pigmentation_approaches_the_simulators_exact_probabilities(fitted):
    predictor, _, test, cohort = fitted
    dna, demo = predictor.predict(test, "dna"), predictor.predict(test, "demographic")
    exact = _true_probabilities(cohort, test)
    for trait in ("eye_colour", "hair_colour", "skin_colour"):
        labels = test.covariates[trait].to_numpy(dtype=str)
        cats = dna.categories[trait]
        optimum = _log_loss(exact[trait], labels, cats)
        learnt = _log_loss(dna.categorical[trait], labels, cats)
        marginal = _log_loss(np.tile(predictor.marginals_[trait], (len(labels), 1)), labels, cats)
        # Learnt from ~1,000 people it cannot reach the optimum, but it gets most of the way.
        assert learnt < marginal - 0.5 * (marginal - optimum), trait
        assert learnt > optimum - 0.1, trait  # no better than the truth beyond chance
        assert _log_loss(demo.categorical[trait], labels, cats) < marginal + 0.02, trait
        # Reliability on 450 held-out people: predicted probabilities match observed frequencies
        # within what sampling allows (3.5 standard errors over ~15 bins).
        y = pd.Index(cats).get_indexer(labels)
        assert _reliability(dna.categorical[trait], y, bins=5, min_count=50)[1] < 3.5, trait


def test_sex_ancestry_and_height_on_held_out_people(fitted):
    predictor, _, test, _ = fitted
    pred = predictor.predict(test)
    cov = test.covariates
    assert np.mean((pred.p_male >= 0.5) == (cov["sex"] == "M").to_numpy()) >= 0.99
    assert np.mean(pred.ancestry["population"].to_numpy() == cov["population"].to_numpy()) >= 0.95
    mean, sd = pred.quantitative["height_cm"]
    covered = np.abs(cov["height_cm"].to_numpy() - mean) <= 1.96 * sd
    assert 0.9 <= covered.mean() <= 0.99
    demo_mean, demo_sd = predictor.predict(test, "demographic").quantitative["height_cm"]
    # At 1,050 training people the simulated height SNPs are too weak to find, and the
    # cross-validated choice falls back to sex and ancestry rather than fit noise.
    assert sd[0] <= demo_sd[0] * 1.01
    table = pred.table()
    assert list(table.index) == list(test.sample_ids)
    assert {"sex", "p_sex", "population", "eye_colour", "p_eye_colour", "height_cm_lo95"} <= set(table.columns)
    record = pred.records()[0]
    assert abs(sum(record["eye_colour"]["probabilities"].values()) - 1) < 1e-9


def test_height_snps_are_used_when_a_gwas_can_find_them(fitted):
    _, train, test, _ = fitted
    rng = np.random.default_rng(5)
    auto = np.flatnonzero((train.variants["chrom"] != "X").to_numpy())
    causal = auto[[100, 2000, 9000]]

    def with_height(c: Cohort) -> Cohort:
        g = np.asarray(c.genotypes[:, causal], dtype=float).clip(0)
        height = (
            165 + 8 * (c.covariates["sex"] == "M").to_numpy() + g @ [4.0, -3.0, 3.5] + rng.normal(0, 4, c.n_samples)
        )
        return replace(c, covariates=c.covariates.assign(height_cm=height))

    train2, test2 = with_height(train), with_height(test)
    predictor = TraitPredictor().fit(train2)
    assert set(train.variants["id"].to_numpy()[causal]) <= set(predictor.height_snps_[0])
    (mean, sd), (demo_mean, demo_sd) = (
        predictor.predict(test2, b).quantitative["height_cm"] for b in ("dna", "demographic")
    )
    y = test2.covariates["height_cm"].to_numpy()
    rmse, demo_rmse = (np.sqrt(np.mean((y - m) ** 2)) for m in (mean, demo_mean))
    assert rmse < min(0.9 * demo_rmse, 1.1 * 4.0)  # near the noise SD (4 cm), the optimum
    assert 0.9 <= np.mean(np.abs(y - mean) <= 1.96 * sd) <= 0.99


def test_save_load_round_trip(fitted, tmp_path):
    predictor, _, test, _ = fitted
    predictor.save(tmp_path / "traits")
    loaded = load_trait_predictor(tmp_path / "traits")
    for basis in ("dna", "demographic"):
        a, b = predictor.predict(test, basis), loaded.predict(test, basis)
        np.testing.assert_array_equal(a.p_male, b.p_male)
        for trait in a.categorical:
            np.testing.assert_array_equal(a.categorical[trait], b.categorical[trait])
        for trait in a.quantitative:
            np.testing.assert_array_equal(a.quantitative[trait][0], b.quantitative[trait][0])
        pd.testing.assert_frame_equal(a.ancestry, b.ancestry)
    assert loaded.marginals_ == json.loads(json.dumps(predictor.marginals_))
    assert load_trait_predictor(tmp_path).marginals_ == loaded.marginals_  # a folder holding traits/
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenofaceError, match="no trait predictor"):
        load_trait_predictor(tmp_path / "empty")
