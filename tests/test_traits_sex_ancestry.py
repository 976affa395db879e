"""Genetic sex and continental ancestry: held-out accuracy, calibration of the probabilities,
admixture proportions against known mixtures, save/load without pickle, and clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import SEX_COLUMNS, SexPredictor
from genoface.traits import AncestryModel, admixture_proportions

HAPGEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "hapgen"


def _split(n: int, seed: int = 0, test_fraction: float = 1 / 3) -> np.ndarray:
    """Boolean mask of held-out people. (Another simulation seed gives other SNPs, so held-out
    people come from the same simulated cohort.)"""
    return np.random.default_rng(seed).random(n) < test_fraction


def _simulate_x(rng: np.random.Generator, freq: np.ndarray, male: np.ndarray, error: float) -> np.ndarray:
    """X genotypes drawn from the predictor's own model: men hemizygous 0/2 with a heterozygous
    call at rate ``error``, women binomial(2, p)."""
    n, k = len(male), len(freq)
    women = rng.binomial(2, freq, size=(n, k))
    men = 2 * rng.binomial(1, freq, size=(n, k))
    men = np.where(rng.random((n, k)) < error, 1, men)
    return np.where(male[:, None], men, women).astype(np.int8)


def _x_variants(k: int, prefix: str = "x") -> pd.DataFrame:
    return pd.DataFrame({"chrom": ["X"] * k, "pos": np.arange(1, k + 1), "id": [f"{prefix}{j}" for j in range(k)]})


# ---- sex ---------------------------------------------------------------------------------------


def test_sex_held_out_people_are_called_confidently_with_and_without_reported_sex(genetics_cohort, tmp_path):
    c = genetics_cohort
    male = c.covariates["sex"].to_numpy() == "M"
    test = _split(c.n_samples)
    n_x_snps = int((c.variants["chrom"] == "X").sum())
    for is_male in (male[~test], None):  # None: frequencies and sex by EM
        model = SexPredictor().fit(c.genotypes[~test], c.variants, is_male=is_male)
        out = model.predict(c.genotypes[test], c.variants)
        assert list(out.columns) == list(SEX_COLUMNS)
        np.testing.assert_array_equal(out["sex"].to_numpy() == "M", male[test])
        p = out["p_male"].to_numpy()
        assert p[male[test]].min() > 0.999 and p[~male[test]].max() < 0.001
        np.testing.assert_array_equal(out["n_x"], n_x_snps)  # no missing calls in the simulation
        assert (out["n_y"] == 0).all()
        # A 2 Mb X is a few LD blocks: thousands of SNPs count as far fewer independent ones.
        assert model.x_effective_snps_ < n_x_snps / 10
    # Save and load without pickle: the same probabilities.
    np.savez(tmp_path / "sex.npz", **model.to_arrays())
    with np.load(tmp_path / "sex.npz", allow_pickle=False) as z:
        again = SexPredictor.from_arrays(dict(z))
    np.testing.assert_array_equal(again.predict_proba(c.genotypes[test], c.variants), p)


def test_sex_posterior_of_one_snp_matches_the_hand_computed_one():
    # One X SNP; training: 10 men (4 carry ALT: 4 of 10 copies), 10 women (dosages 0x4, 1x4, 2x2:
    # 8 of 20 copies). Without pseudo-counts p = 12 / 30 = 0.4.
    g = np.array([[0]] * 6 + [[2]] * 4 + [[0]] * 4 + [[1]] * 4 + [[2]] * 2, dtype=np.int8)
    male = np.arange(20) < 10
    variants = _x_variants(1)
    model = SexPredictor(pseudo_count=0.0, error=0.01).fit(g, variants, is_male=male)
    np.testing.assert_allclose(model.x_alt_freq_, [0.4])
    p, e = 0.4, 0.01
    lr_man_ref = (1 - e) * (1 - p) / (1 - p) ** 2  # hemizygous REF vs homozygous REF in HWE
    lr_het = e / (2 * p * (1 - p))  # a heterozygous call is an error for a man
    lr_alt = (1 - e) * p / p**2
    new = np.array([[0], [1], [2], [-1]], dtype=np.int8)
    expected = np.array([lr_man_ref, lr_het, lr_alt, 1.0])
    out = model.predict(new, variants)
    np.testing.assert_allclose(out["p_male"], expected / (1 + expected), rtol=1e-12)
    np.testing.assert_array_equal(out["n_x"], [1, 1, 1, 0])
    # A prior of 0.3 multiplies the odds by 3/7.
    model.prior = 0.3
    odds = expected * 0.3 / 0.7
    np.testing.assert_allclose(model.predict_proba(new, variants), odds / (1 + odds), rtol=1e-12)


@pytest.fixture(scope="module")
def independent_x():
    """A predictor fitted on 1,500 people at 200 unlinked X SNPs drawn from its own model."""
    rng = np.random.default_rng(5)
    freq = rng.uniform(0.05, 0.95, 200)
    male = rng.random(1500) < 0.5
    g = _simulate_x(rng, freq, male, error=0.01)
    return freq, g, male, SexPredictor(error=0.01).fit(g, _x_variants(200), is_male=male)


def test_sex_with_three_snps_is_uncertain_but_calibrated(independent_x):
    freq, _, _, model = independent_x
    # Unlinked SNPs: the learnt tempering leaves a handful of SNPs at (almost) full weight.
    assert model.x_effective_snps_ > 2000
    rng = np.random.default_rng(6)
    n = 30_000
    male = rng.random(n) < 0.5
    g = _simulate_x(rng, freq, male, error=0.01)
    typed = np.argsort(rng.random((n, 200)), axis=1)[:, :3]  # three random SNPs per person
    keep = np.zeros(g.shape, dtype=bool)
    keep[np.arange(n)[:, None], typed] = True
    g[~keep] = -1
    out = model.predict(g, _x_variants(200))
    assert (out["n_x"] == 3).all()
    p = out["p_male"].to_numpy()
    assert ((p > 0.1) & (p < 0.9)).mean() > 0.3  # three SNPs leave many people uncertain
    # Reliability: within each tenth of the probability scale, predicted vs observed share of men.
    bins = np.minimum((p * 10).astype(int), 9)
    gaps = []
    for b in range(10):
        sel = bins == b
        if sel.sum() >= 300:
            gaps.append(abs(p[sel].mean() - male[sel].mean()))
    assert len(gaps) >= 6 and max(gaps) < 0.03, gaps
    assert abs(p.mean() - male.mean()) < 0.01


def test_sex_em_without_reported_sex_learns_the_same_frequencies(independent_x):
    freq, g, male, model = independent_x
    em = SexPredictor(error=0.01).fit(g, _x_variants(200))
    assert abs(em.n_male_ - male.sum()) < 1
    assert np.abs(em.x_alt_freq_ - model.x_alt_freq_).max() < 0.01
    assert np.abs(model.x_alt_freq_ - freq).max() < 0.08


def test_sex_from_y_calls_and_prior_without_any_snp(caplog):
    rng = np.random.default_rng(2)
    n = 60
    male = np.arange(n) < 30
    x = _simulate_x(rng, rng.uniform(0.2, 0.8, 40), male, error=0.0)
    # Men called at 95% of Y SNPs, women at 5% (cross-hybridizing probes).
    y = np.where(rng.random((n, 5)) < np.where(male, 0.95, 0.05)[:, None], 0, -1).astype(np.int8)
    g = np.hstack([x, y])
    variants = pd.DataFrame({"chrom": ["X"] * 40 + ["Y"] * 5, "id": [f"v{j}" for j in range(45)]})
    model = SexPredictor().fit(g, variants, is_male=male)
    assert model.y_call_rate_male_.min() > 0.8 and model.y_call_rate_female_.max() < 0.2
    only_y = model.predict(g[:, 40:], variants["id"][40:])
    assert (only_y["n_x"] == 0).all() and (only_y["n_y"] == 5).all()
    assert ((only_y["sex"] == "M").to_numpy() == male).mean() >= 0.95

    # No X or Y SNP of the model: the prior, with a warning rather than an error.
    autosomal = np.zeros((3, 4), dtype=np.int8)
    with caplog.at_level(logging.WARNING, logger="genoface.genetics"):
        out = SexPredictor(prior=0.4).fit(g, variants, is_male=male).predict(autosomal, ["a", "b", "c", "d"])
    np.testing.assert_allclose(out["p_male"], 0.4)
    assert (out["n_x"] == 0).all() and "3 of 3 people have no called X SNP" in caplog.text


def test_sex_errors_name_the_problem():
    g = np.zeros((4, 3), dtype=np.int8)
    auto = pd.DataFrame({"chrom": ["1", "1", "2"], "id": ["a", "b", "c"]})
    with pytest.raises(GenofaceError, match="no chromosome X variants among the 3"):
        SexPredictor().fit(g, auto)
    x = pd.DataFrame({"chrom": ["X"] * 3, "id": ["a", "b", "c"]})
    g[:2] = 2
    with pytest.raises(GenofaceError, match=r"is_male has shape \(3,\)"):
        SexPredictor().fit(g, x, is_male=[True, False, True])
    with pytest.raises(GenofaceError, match="error must be in"):
        SexPredictor(error=0.0).fit(g, x)
    with pytest.raises(GenofaceError, match="not fitted"):
        SexPredictor().predict(g, x)
    with pytest.raises(GenofaceError, match="lack"):
        SexPredictor.from_arrays({"prior": 0.5})


# ---- ancestry ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ancestry(genetics_cohort):
    """An AncestryModel fitted on two thirds of the 3-population cohort: (model, held-out mask)."""
    c = genetics_cohort
    test = _split(c.n_samples)
    pop = c.covariates["population"].to_numpy()
    return AncestryModel().fit(c.genotypes[~test], c.variants, pop[~test]), test


def test_ancestry_held_out_accuracy_calibration_and_own_proportions(genetics_cohort, ancestry):
    c = genetics_cohort
    model, test = ancestry
    pop = c.covariates["population"].to_numpy()[test]
    out = model.predict(c.genotypes[test], c.variants["id"], sample_ids=c.sample_ids[test])
    pops = ["CEU", "CHB", "YRI"]
    expected = ["population", *[f"p_{p}" for p in pops], *[f"q_{p}" for p in pops]]
    expected += [f"pc{i}" for i in range(1, 11)] + ["n_snps_used"]
    assert list(out.columns) == expected and list(out.index) == list(c.sample_ids[test])
    prob = out[[f"p_{p}" for p in pops]].to_numpy()
    q = out[[f"q_{p}" for p in pops]].to_numpy()
    np.testing.assert_allclose(prob.sum(1), 1)
    np.testing.assert_allclose(q.sum(1), 1)
    accuracy = (out["population"].to_numpy() == pop).mean()
    assert accuracy >= 0.95
    assert abs(prob.max(1).mean() - accuracy) < 0.05  # neither over- nor under-confident
    assert (out["n_snps_used"] == len(model.pca_.snps_)).all()
    own = q[np.arange(len(pop)), np.searchsorted(pops, pop)]
    # Held-out people against frequencies from ~65 people per population: mostly their own.
    assert own.mean() > 0.9 and (own > 0.8).mean() > 0.9


def test_admixture_fit_is_the_maximum_likelihood():
    # The fast fit against a fine grid over the simplex (the slow, obviously right version).
    rng = np.random.default_rng(3)
    f = rng.uniform(0.05, 0.95, size=(3, 300))
    g = rng.binomial(2, np.array([0.6, 0.4, 0.0]) @ f, size=(4, 300)).astype(np.int8)
    g[0, :100] = -1
    q, n_called = admixture_proportions(g, f)
    np.testing.assert_array_equal(n_called, [200, 300, 300, 300])
    step = np.linspace(0, 1, 201)
    a, b = np.meshgrid(step, step)
    grid = np.column_stack([a.ravel(), b.ravel(), 1 - a.ravel() - b.ravel()])
    grid = grid[grid[:, 2] >= -1e-12].clip(0)
    mix = grid @ f
    for i in range(len(g)):
        ok = g[i] >= 0
        ll = lambda m, i=i, ok=ok: (g[i, ok] * np.log(m[..., ok]) + (2 - g[i, ok]) * np.log1p(-m[..., ok])).sum(-1)
        assert ll(q[i] @ f) >= ll(mix).max() - 1e-9
    q_none, n_none = admixture_proportions(np.full((1, 300), -1, dtype=np.int8), f)
    assert n_none[0] == 0 and np.isnan(q_none).all()


def test_admixture_recovers_a_50_50_mixture_and_unadmixed_people():
    # Three populations drawn from an ancestral frequency (Balding-Nichols, F_ST = 0.1), unlinked SNPs.
    rng = np.random.default_rng(4)
    m, fst = 2000, 0.1
    anc = rng.uniform(0.1, 0.9, m)
    shape = (1 - fst) / fst
    freq = rng.beta(anc * shape, (1 - anc) * shape, size=(3, m)).clip(0.01, 0.99)
    labels = np.repeat(["A", "B", "C"], 60)
    g = rng.binomial(2, freq[np.searchsorted(["A", "B", "C"], labels)]).astype(np.int8)
    variants = pd.DataFrame({"chrom": "1", "pos": np.arange(m), "id": [f"s{j}" for j in range(m)]})
    model = AncestryModel(n_components=4, min_maf=0.0).fit(g, variants, labels)

    new = np.vstack(
        [
            rng.binomial(2, (freq[0] + freq[1]) / 2, size=(1, m)),  # 50/50 A and B, per SNP
            rng.binomial(2, freq, size=(3, m)),  # one unadmixed person of each
        ]
    ).astype(np.int8)
    out = model.predict(new, variants["id"])
    q = out[["q_A", "q_B", "q_C"]].to_numpy()
    assert abs(q[0, 0] - 0.5) < 0.15 and abs(q[0, 1] - 0.5) < 0.15 and q[0, 2] < 0.1
    assert (np.diag(q[1:]) > 0.8).all()
    np.testing.assert_array_equal(out["population"][1:], ["A", "B", "C"])


def test_ancestry_round_trip_and_missing_snps(genetics_cohort, ancestry, tmp_path):
    c = genetics_cohort
    model, test = ancestry
    pop = c.covariates["population"].to_numpy()[test]
    g, ids = c.genotypes[test], c.variants["id"].to_numpy()
    full = model.predict(g, ids)

    np.savez(tmp_path / "ancestry.npz", **model.to_arrays())
    with np.load(tmp_path / "ancestry.npz", allow_pickle=False) as z:
        again = AncestryModel.from_arrays(dict(z))
    pd.testing.assert_frame_equal(again.predict(g, ids), full)

    # Columns in another order: the same answer (SNPs are matched by id).
    order = np.random.default_rng(1).permutation(len(ids))
    pd.testing.assert_frame_equal(model.predict(g[:, order], ids[order]), full, atol=1e-8)

    # 30% of the model's SNPs absent from the input: still classified, the count reported.
    drop = np.isin(ids, model.pca_.snps_[np.random.default_rng(2).random(len(model.pca_.snps_)) < 0.3])
    partial = model.predict(g[:, ~drop], ids[~drop])
    assert (partial["n_snps_used"] == len(model.pca_.snps_) - drop.sum()).all()
    assert (partial["population"].to_numpy() == pop).mean() >= 0.95

    # A person without a called model SNP: left unassigned, not an error.
    g_missing = g[:2].copy()
    g_missing[0] = -1
    out = model.predict(g_missing, ids)
    assert out["population"].iloc[0] == "" and np.isnan(out["q_CEU"].iloc[0]) and out["n_snps_used"].iloc[0] == 0


def test_admixture_of_the_simulated_cohort_centres_on_one_half(ancestry):
    model = ancestry[0]
    f = model.pop_alt_freq_
    ceu, chb = (list(model.populations_).index(p) for p in ("CEU", "CHB"))
    g = np.random.default_rng(7).binomial(2, (f[ceu] + f[chb]) / 2, size=(20, f.shape[1])).astype(np.int8)
    q = model.predict(g, model.pca_.snps_)
    # ~1,300 SNPs of a 2 Mb genome: each person's q is noisy (sd ~0.08), their mean is not.
    assert abs(q["q_CEU"].mean() - 0.5) < 0.05 and abs(q["q_CHB"].mean() - 0.5) < 0.05
    assert q["q_YRI"].max() < 0.1 and (np.abs(q["q_CEU"] - 0.5) < 0.25).all()


def test_ancestry_errors_name_the_problem(genetics_cohort):
    c = genetics_cohort
    g, v = c.genotypes[:40], c.variants
    with pytest.raises(GenofaceError, match="at least 2 populations, got 1"):
        AncestryModel().fit(g, v, ["CEU"] * 40)
    with pytest.raises(GenofaceError, match="population YRI has 3 people"):
        AncestryModel().fit(g, v, ["CEU"] * 37 + ["YRI"] * 3)
    with pytest.raises(GenofaceError, match="39 labels but genotypes have 40 people"):
        AncestryModel().fit(g, v, ["CEU", "YRI"] * 19 + ["CEU"])
    with pytest.raises(GenofaceError, match="no population label"):
        AncestryModel().fit(g, v, ["CEU", None] * 20)
    with pytest.raises(GenofaceError, match="not fitted"):
        AncestryModel().predict(g, v["id"])
    with pytest.raises(GenofaceError, match="lack"):
        AncestryModel.from_arrays({"C": 1.0})


@pytest.mark.skipif(not (HAPGEN / "hapgen_ceu_asn_chr10.vcf.gz").exists(), reason=f"hapgen data not at {HAPGEN}")
def test_ancestry_on_hapgen_ceu_vs_east_asian():
    from genoface.io import read_genotypes

    data = read_genotypes(HAPGEN / "hapgen_ceu_asn_chr10.vcf.gz")
    pops = pd.read_csv(HAPGEN / "hapgen_ceu_asn_chr10.populations.tsv", sep="\t", index_col="sample_id")
    pop = pops.loc[data.sample_ids, "population"].to_numpy()
    order = np.random.default_rng(0).permutation(len(pop))
    train, test = order[:700], order[700:]
    model = AncestryModel().fit(data.genotypes[train], data.variants, pop[train])
    out = model.predict(data.genotypes[test], data.variants["id"])
    accuracy = (out["population"].to_numpy() == pop[test]).mean()
    assert accuracy >= 0.98
    assert abs(out[["p_CEU", "p_JPT+CHB"]].to_numpy().max(1).mean() - accuracy) < 0.05
    own = np.where(pop[test] == "CEU", out["q_CEU"], out["q_JPT+CHB"])
    assert own.min() > 0.8
