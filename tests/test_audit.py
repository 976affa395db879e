"""The re-identification audit: select-among-N and ranks by hand, the trait likelihood ratios by
hand, candidate tables, and the four conditions on a simulated cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from genoface.audit import (
    categorical_log_lr,
    gaussian_log_lr,
    owner_ranks,
    rank_metrics,
    read_candidates,
    run_audit,
    select_among_ties,
)
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate import select_among
from genoface.models import make_model
from genoface.traits import TraitPredictor


def test_ranks_and_select_among_n_by_hand():
    # 3 genomes, 4 candidates; owners are candidates 0, 1, 2.
    s = np.array(
        [
            [5.0, 1.0, 2.0, 0.0],  # owner best
            [3.0, 2.0, 1.0, 4.0],  # candidates 0 and 3 above
            [0.0, 9.0, 1.0, 1.0],  # candidate 1 above, candidate 3 tied
        ]
    )
    higher, tied = owner_ranks(s, np.array([0, 1, 2]))
    np.testing.assert_array_equal(higher, [0, 2, 1])
    np.testing.assert_array_equal(tied, [0, 0, 1])
    m = rank_metrics(higher, tied, gallery_size=4, sizes=range(2, 6))
    # Draw N - 1 of the 3 other candidates; a tied one drawn halves the owner's chance.
    # N=2: genome 0 wins always; genome 1 only against the one lower (1/3); genome 2 against
    #      the lower (1/3) or, half the time, the tied one (1/3 x 1/2): 1/2.  Mean 11/18.
    # N=3: genome 0: 1; genome 1: 0; genome 2: only {tied, lower} of 3 pairs, x 1/2: 1/6.  Mean 7/18.
    # N=4: only genome 0.  N=5 exceeds the gallery: left out.
    assert m["select"] == pytest.approx({2: 11 / 18, 3: 7 / 18, 4: 1 / 3})
    assert m["top1"] == pytest.approx(1 / 3) and m["chance_top1"] == 0.25
    assert m["R10"] == pytest.approx(1 / 3)  # the top 10% of 4 candidates is rank 1
    assert m["mean_rank"] == pytest.approx((1 + 3 + 2.5) / 3)  # a tie counts half
    assert m["share_tied"] == pytest.approx(1 / 3)


def test_ties_broken_at_random_not_in_the_owners_favour():
    # Sex alone: every candidate of the owner's sex ties with the owner.
    n = 40
    s = np.where(np.arange(n)[None, :] % 2 == np.arange(n)[:, None] % 2, 1.0, 0.0)
    m = rank_metrics(*owner_ranks(s, np.arange(n)), gallery_size=n, sizes=[2, 10])
    assert m["top1"] == pytest.approx(1 / 20)  # one of 20 of that sex, not 1
    # Among 2: the other candidate is of the other sex (20/39, a win) or of the same (19/39, half).
    assert m["select"][2] == pytest.approx(20 / 39 + 19 / 39 / 2)


def test_select_among_without_ties_is_lipperts():
    rng = np.random.default_rng(0)
    rank = rng.integers(1, 51, size=200)
    for k in (2, 10, 50):
        np.testing.assert_allclose(
            select_among_ties(rank - 1, np.zeros_like(rank), 50, k), select_among(rank, 50, k), atol=1e-12
        )


def test_trait_likelihood_ratios_by_hand():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    observed = pd.Series(["blue", "brown", None, "green"])  # a missing value and an unknown one count 0
    llr = categorical_log_lr(probs, ["blue", "intermediate", "brown"], [0.25, 0.25, 0.5], observed)
    expected = np.array(
        [
            [np.log(0.7 / 0.25), np.log(0.1 / 0.5), 0, 0],
            [np.log(0.1 / 0.25), np.log(0.6 / 0.5), 0, 0],
        ]
    )
    np.testing.assert_allclose(llr, expected)
    heights = pd.Series([170.0, np.nan])
    g = gaussian_log_lr(np.array([175.0]), np.array([5.0]), [168.0, 9.0], heights)
    assert g[0, 0] == pytest.approx(norm.logpdf(170, 175, 5) - norm.logpdf(170, 168, 9))
    assert g[0, 1] == 0


def test_candidate_tables(tmp_path):
    good = tmp_path / "candidates.tsv"
    good.write_text("sample_id\tsex\teye_colour\theight_cm\nA\tF\tblue\t165\nB\tM\tNA\t181.5\n")
    c = read_candidates(good)
    assert list(c.traits.columns) == ["sex", "eye_colour", "height_cm"] and c.faces is None
    bad = tmp_path / "bad.tsv"
    bad.write_text("sample_id\tsex\teye_color\nA\tF\tblue\n")
    with pytest.raises(GenofaceError, match=r"bad\.tsv: line 1 names unknown column\(s\) 'eye_color'"):
        read_candidates(bad)
    purple = tmp_path / "purple.tsv"
    purple.write_text("sample_id\teye_colour\nA\tpurple\n")
    with pytest.raises(GenofaceError, match=r"purple\.tsv: eye_colour 'purple' for A is not one of blue"):
        read_candidates(purple)
    none = tmp_path / "none.tsv"
    none.write_text("sample_id\tage\nA\t40\n")
    with pytest.raises(GenofaceError, match="no trait column"):
        read_candidates(none)


@pytest.fixture(scope="module")
def split(sim_strong):
    cohort = Cohort.load(sim_strong.cohort.path)
    train, test = cohort.split(0.2, seed=1)
    return train, test.subset(np.arange(200)), TraitPredictor().fit(train)


def test_four_conditions_on_a_simulated_mixed_cohort(split):
    train, test, traits = split
    faces = {
        "dna": make_model("lippert").fit(train).score_matrix(test, test.faces),
        "demographic": make_model("demographic").fit(train).score_matrix(test, test.faces),
    }
    candidates = test.covariates[["sex", "population", "eye_colour", "hair_colour", "skin_colour", "height_cm"]]
    result = run_audit(test, candidates, traits, face_scores=faces, assign=True)
    c = result.conditions
    assert set(c) == {"dna + face", "dna", "demographics + face", "demographics"}
    assert result.n_owners_present == 200 and result.traits_used[0] == "sex"
    for m in c.values():
        assert m["gallery_size"] == 200 and set(m["select"]) == set(range(2, 101))
        assert all(0 <= v <= 1 for v in m["select"].values())
        # More candidates can only make picking the owner harder.
        assert np.all(np.diff([m["select"][n] for n in range(2, 101)]) <= 1e-12)
    # Demographics alone go well beyond chance in a mixed cohort (Erlich's point) ...
    assert c["demographics"]["select"][10] > 0.3
    # ... the genome's pigmentation and height SNPs add to them, and faces add to traits.
    assert c["dna"]["select"][10] > c["demographics"]["select"][10]
    assert c["dna + face"]["select"][10] > c["dna"]["select"][10]
    assert c["dna + face"]["mean_rank"] < c["demographics + face"]["mean_rank"]
    # The joint assignment uses that every owner is a candidate: it helps when the scores are
    # sharp, and trait-only scores, tied across whole groups, are assigned at random within them.
    assert c["dna + face"]["top1_assigned"] >= c["dna + face"]["top1"] - 0.05
    assert 0 <= c["demographics"]["top1_assigned"] < 0.1


def test_audit_errors(split):
    _, test, traits = split
    strangers = test.covariates[["sex"]].set_axis([f"X{i}" for i in range(test.n_samples)])
    with pytest.raises(GenofaceError, match="no genome's sample id is among the candidates"):
        run_audit(test, strangers, traits)
    result = run_audit(test, test.covariates[["sex"]], traits)
    assert result.conditions["dna + face"] == {"not_run": "no dna face model scores were given"}
