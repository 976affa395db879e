"""Evaluation metrics on hand-computed cases and against their chance levels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genoface.core.errors import GenofaceError
from genoface.evaluate import (
    auc,
    bootstrap_ci,
    cmc,
    eer,
    gap_shares,
    genuine_impostor,
    identification_metrics,
    paired_comparisons,
    rank_threshold,
    ranks,
    select_among,
)


def test_ranks_by_hand():
    s = np.array([[3.0, 1, 2], [5, 4, 1], [0, 9, 8]])
    np.testing.assert_array_equal(ranks(s), [1, 2, 2])
    # Ties with the true face do not push it down: only strictly higher scores count.
    np.testing.assert_array_equal(ranks(np.array([[1.0, 1.0], [0.0, 2.0]])), [1, 1])


def test_rank_thresholds_follow_the_gallery_share():
    # Sero et al.'s gallery of 295: top 1% is rank <= 2, 10% rank <= 29, 20% rank <= 59.
    assert [rank_threshold(p, 295) for p in (0.01, 0.10, 0.20)] == [2, 29, 59]
    assert rank_threshold(0.01, 50) == 1  # never below rank 1
    assert rank_threshold(0.10, 100) == 10


def test_select_among_by_hand():
    # Gallery of 11, pick 9 others: rank 1 always wins, rank 2 wins only if the one face above
    # it is not drawn (1 - 9/10), rank 3 never can.
    np.testing.assert_allclose(select_among(np.array([1, 2, 3]), 11, 10), [1.0, 0.1, 0.0])
    # Averaged over uniformly random ranks the chance is exactly 1/k.
    n = 57
    assert select_among(np.arange(1, n + 1), n, 10).mean() == pytest.approx(0.1)
    assert select_among(np.arange(1, n + 1), n, 2).mean() == pytest.approx(0.5)


def test_cmc_by_hand():
    np.testing.assert_allclose(cmc(np.array([1, 2, 2, 4]), 4), [0.25, 0.75, 0.75, 1.0])


def test_auc_by_hand_and_against_sklearn():
    g, i = np.array([3.0, 5.0]), np.array([1.0, 4.0, 5.0])
    # Pairs: 3>1, 3<4, 3<5, 5>1, 5>4, 5=5 (half) -> 3.5 / 6.
    assert auc(g, i) == pytest.approx(3.5 / 6)
    rng = np.random.default_rng(0)
    g, i = rng.normal(1, 1, 300).round(1), rng.normal(0, 1, 3000).round(1)
    labels = np.r_[np.ones(len(g)), np.zeros(len(i))]
    assert auc(g, i) == pytest.approx(roc_auc_score(labels, np.r_[g, i]))


def test_eer_by_hand():
    # At threshold 2.5 one of three genuine scores is rejected and one of three impostors accepted.
    assert eer(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.5])) == pytest.approx(1 / 3)
    assert eer(np.array([5.0, 6.0]), np.array([1.0, 2.0])) == pytest.approx(0.0)
    rng = np.random.default_rng(1)
    assert eer(rng.normal(size=4000), rng.normal(size=4000)) == pytest.approx(0.5, abs=0.03)
    # Two unit-variance normals one SD apart cross at 0.5: EER = Phi(-0.5) = 0.3085.
    assert eer(rng.normal(1, 1, 20000), rng.normal(0, 1, 20000)) == pytest.approx(0.3085, abs=0.01)


def test_perfect_and_random_score_matrices():
    n = 60
    perfect = -np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)
    m = identification_metrics(perfect)
    assert m["top1"] == 1.0 and m["R1"] == 1.0 and m["select10"] == 1.0
    assert m["auc"] == 1.0 and m["eer"] == 0.0
    # Random scores sit at the chance levels (averaged over many draws).
    rng = np.random.default_rng(2)
    runs = [identification_metrics(rng.normal(size=(n, n))) for _ in range(200)]
    for key in ("top1", "R10", "R20", "select10", "auc"):
        assert np.mean([r[key] for r in runs]) == pytest.approx(runs[0][f"chance_{key}"], abs=0.02), key
    assert runs[0]["chance_top1"] == pytest.approx(1 / n)


def test_genuine_impostor_split():
    s = np.arange(9.0).reshape(3, 3)
    g, i = genuine_impostor(s)
    np.testing.assert_array_equal(g, [0, 4, 8])
    assert sorted(i) == [1, 2, 3, 5, 6, 7]


def test_bad_score_matrices():
    with pytest.raises(GenofaceError, match="square"):
        ranks(np.zeros((3, 4)))
    with pytest.raises(GenofaceError, match="NaN"):
        ranks(np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_bootstrap_interval_covers_the_mean_and_is_reproducible():
    x = np.random.default_rng(3).normal(10, 2, 400)
    ci = bootstrap_ci(lambda idx: x[idx].mean(), len(x), n_boot=500, seed=1)
    assert ci[0] < x.mean() < ci[1]
    assert ci == bootstrap_ci(lambda idx: x[idx].mean(), len(x), n_boot=500, seed=1)
    # The 95% interval of a mean is about +-1.96 standard errors wide.
    assert (ci[1] - ci[0]) / 2 == pytest.approx(1.96 * x.std() / np.sqrt(len(x)), rel=0.2)


def _bootstrap_by_hand(x: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap spelled out: people drawn with replacement from one seeded
    stream, one resample after the other, and the linear quantiles of the resampled means."""
    rng = np.random.default_rng(seed)
    means = [x[rng.integers(0, len(x), len(x))].mean() for _ in range(n_boot)]
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@pytest.mark.parametrize("n", [50, 3000])  # 3,000 people: resamples drawn in several batches
def test_bootstrap_interval_by_hand(n):
    x = np.random.default_rng(n).exponential(2.0, n)
    expected = _bootstrap_by_hand(x, n_boot=400, seed=7)
    np.testing.assert_allclose(bootstrap_ci(np.mean, values=x, n_boot=400, seed=7), expected, rtol=1e-12)
    # The same people are drawn whether the statistic sees the values or their indices.
    by_index = bootstrap_ci(lambda idx: x[idx].mean(), n, n_boot=400, seed=7)
    np.testing.assert_allclose(by_index, expected, rtol=1e-12)
    np.testing.assert_allclose(
        bootstrap_ci(np.mean, values=x, n_boot=400, seed=7, level=0.5), _bootstrap_by_hand(x, 400, 7, 0.5)
    )
    assert bootstrap_ci(np.mean, values=x, n_boot=400, seed=8) != expected


def test_bootstrap_interval_of_constant_and_binary_values():
    # Everyone the same (a model at chance that never ranks anyone first): a zero-width interval.
    assert bootstrap_ci(np.mean, values=np.zeros(40), n_boot=100) == (0.0, 0.0)
    hits = np.r_[np.ones(30), np.zeros(70)]
    lo, hi = bootstrap_ci(np.mean, values=hits, n_boot=2000, seed=0)
    # The binomial standard error of 0.3 on 100 people is 0.046: about +-0.09 at 95%.
    assert lo < 0.3 < hi and (hi - lo) / 2 == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / 100), rel=0.15)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    covered = [
        lo < 1.0 < hi
        for lo, hi in (bootstrap_ci(np.mean, values=rng.exponential(1.0, 200), n_boot=300, seed=s) for s in range(200))
    ]
    assert 0.9 < np.mean(covered) < 0.99  # nominal 0.95; 200 trials give it +-0.015 (1 SD)


def test_bootstrap_refuses_bad_input():
    with pytest.raises(GenofaceError, match="per person"):
        bootstrap_ci(np.mean, values=np.zeros((3, 2)))
    with pytest.raises(GenofaceError, match="n_people is 5"):
        bootstrap_ci(np.mean, 5, values=np.zeros(4))
    with pytest.raises(GenofaceError, match="at least 2"):
        bootstrap_ci(np.mean, values=np.zeros(1))
    with pytest.raises(GenofaceError, match="n_people"):
        bootstrap_ci(np.mean)


# ---- cllr and the joint assignment ------------------------------------------------------------------


def test_cllr_by_hand():
    from genoface.evaluate import cllr

    assert cllr(np.zeros((2, 2))) == pytest.approx(1.0)  # LR = 1 everywhere: no information
    llr = np.log(3.0)
    s = np.array([[llr, -llr], [-llr, llr]])
    assert cllr(s) == pytest.approx(np.log2(1 + 1 / 3))  # every ratio 3 the right way
    assert cllr(-s) == pytest.approx(np.log2(1 + 3))  # every ratio 3 the wrong way: above chance


def test_cllr_min_by_hand():
    from genoface.evaluate import cllr, cllr_min

    llr = np.log(3.0)
    s = np.array([[llr, -llr], [-llr, llr]])
    assert cllr_min(s) == pytest.approx(0.0)  # perfectly ordered: only calibration cost cllr
    assert cllr_min(-s) == pytest.approx(1.0)  # ordered the wrong way: a monotone map can do nothing
    assert cllr_min(np.zeros((3, 3))) == pytest.approx(1.0)
    # genuine 2 and 0, impostors 1 and -1: the middle two pool to LR = 1, the ends are certain,
    # so each class pays 1 bit on one of its two pairs
    assert cllr_min(np.array([[2.0, 1.0], [-1.0, 0.0]])) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=(40, 40)) + 2 * np.eye(40)
    assert cllr_min(noisy) <= cllr(noisy) and cllr_min(noisy) <= cllr(noisy * 0.3 - 1)


def test_top1_assigned_by_hand():
    from genoface.evaluate import identification_metrics, top1_assigned

    s = np.array([[5.0, 6.0, 0.0], [1.0, 7.0, 0.0], [0.0, 0.0, 1.0]])
    # genome 0 prefers face 1, but face 1 is worth more to genome 1: the assignment fixes it
    assert identification_metrics(s)["top1"] == pytest.approx(2 / 3)
    assert top1_assigned(s) == 1.0
    s2 = np.array([[5.0, 4.0, 0.0], [4.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert top1_assigned(s2) == pytest.approx(1 / 3)  # 4 + 4.5 beats 5 + 1: both swapped


def test_assignment_breaks_ties_at_random_and_leaves_extra_genomes_out():
    from genoface.evaluate import assign_faces, top1_assigned

    # A model that knows nothing scores every pair alike: taking the gallery's order would give
    # every genome its own face. Shuffled, the assignment is a random permutation: chance.
    flat = np.zeros((400, 400))
    assert top1_assigned(flat) < 0.02
    assert sorted(assign_faces(flat)) == list(range(400))  # still one distinct face each
    wide = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(assign_faces(wide), [0, 2])
    tall = np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 0.0]])
    np.testing.assert_array_equal(assign_faces(tall), [-1, 1, 0])


def test_paired_comparison_by_hand():
    # Three test people; b beats c, so a is compared with b; the difference is a - b per person.
    per_person = {
        "a": {"dna": {"face_error_mm": np.array([1.0, 2.0, 3.0]), "top1": np.array([1.0, 1.0, 1.0])}},
        "b": {"dna": {"face_error_mm": np.array([2.0, 3.0, 4.0]), "top1": np.array([0.0, 1.0, 0.0])}},
        "c": {"dna": {"face_error_mm": np.array([5.0, 5.0, 5.0]), "top1": np.array([0.0, 0.0, 0.0])}},
        "oracle": {"dna": {"face_error_mm": np.zeros(3), "top1": np.ones(3)}},
    }
    records = {(r["model"], r["metric"]): r for r in paired_comparisons(per_person, n_boot=200)}
    a_err = records[("a", "face_error_mm")]
    # The oracle is never the comparator; every person is 1 mm better: the interval is that point.
    assert a_err["versus"] == "b" and a_err["difference"] == pytest.approx(-1.0)
    assert a_err["difference_ci"] == pytest.approx((-1.0, -1.0)) and a_err["better"] and not a_err["worse"]
    a_top1 = records[("a", "top1")]
    assert a_top1["versus"] == "b" and a_top1["difference"] == pytest.approx(2 / 3)
    b_err = records[("b", "face_error_mm")]
    assert b_err["versus"] == "a" and b_err["worse"] and not b_err["better"]
    assert ("oracle", "face_error_mm") not in records


def test_gap_shares_by_hand():
    rows = [
        {"model": m, "setting": "dna+cov", "snp_fraction": 1.0, "face_error_mm": e}
        for m, e in (("mean", 5.0), ("demographic", 4.0), ("x", 3.0), ("oracle", 2.0))
    ]
    shares = {s["model"]: s for s in gap_shares(rows)}
    assert shares["x"]["gain_share"] == pytest.approx(2 / 3) and shares["x"]["genetic_share"] == pytest.approx(0.5)
    assert gap_shares(rows[:3]) == []  # no oracle, no shares
