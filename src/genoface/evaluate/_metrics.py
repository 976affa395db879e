"""The evaluation protocol's metrics (README, "The evaluation protocol"), as pure functions.

Identification works on a score matrix ``S`` (n_genomes, n_faces) in which genome ``i``'s
true face is face ``i`` and every test face is in the gallery; higher scores mean "more likely
the same person".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import gammaln
from scipy.stats import bootstrap
from sklearn.isotonic import IsotonicRegression

from genoface.core.errors import GenofaceError

#: Gallery shares of Sero et al.'s R1, R10 and R20.
RANK_SHARES = {"R1": 0.01, "R10": 0.10, "R20": 0.20}
# Resamples x people drawn at once by bootstrap_ci (8 MB of indices): bounded memory for large cohorts.
_BOOTSTRAP_CELLS = 1 << 20


def _check_square(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 2:
        raise GenofaceError(f"a score matrix must be square with at least 2 people, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise GenofaceError("the score matrix holds NaN or infinite scores")
    return s


def ranks(scores: np.ndarray) -> np.ndarray:
    """rank_i = 1 + the number of faces scoring strictly higher than genome i's true face."""
    s = _check_square(scores)
    return 1 + (s > np.diag(s)[:, None]).sum(axis=1)


def rank_threshold(share: float, gallery_size: int) -> int:
    """Largest rank that counts as "within the top ``share`` of the gallery" (at least 1)."""
    return max(1, math.floor(share * gallery_size + 1e-9))


def select_among(rank: np.ndarray, gallery_size: int, k: int = 10) -> np.ndarray:
    """Per person, the exact chance that the true face wins among itself and ``k - 1`` others
    drawn at random from the gallery: all of them must come from the faces ranked below it,
    i.e. C(N - rank, k - 1) / C(N - 1, k - 1) (Lippert et al.'s select-among-k)."""
    n, r = gallery_size, np.asarray(rank)
    if k < 2 or k > n:
        raise GenofaceError(f"select-among-{k} needs a gallery of at least {k} faces, got {n}")
    below = n - r
    out = np.zeros(len(r))
    ok = below >= k - 1
    out[ok] = np.exp(_log_comb(below[ok], k - 1) - _log_comb(n - 1, k - 1))
    return out


def _log_comb(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


def cmc(rank: np.ndarray, gallery_size: int) -> np.ndarray:
    """Cumulative match characteristic: share of people with rank <= k, for k = 1..N."""
    counts = np.bincount(np.asarray(rank), minlength=gallery_size + 1)[1:]
    return np.cumsum(counts) / len(rank)


def genuine_impostor(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine (diagonal) and impostor (off-diagonal) scores."""
    s = _check_square(scores)
    off = ~np.eye(len(s), dtype=bool)
    return np.diag(s).copy(), s[off]


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(genuine > impostor) + P(tie)/2 (the Mann-Whitney form of the ROC area)."""
    both = np.concatenate([genuine, impostor])
    order = np.argsort(both, kind="mergesort")
    sorted_scores = both[order]
    # Average ranks for ties.
    ranks_ = np.empty(len(both))
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks_[order] = np.repeat(avg, counts)
    n_g, n_i = len(genuine), len(impostor)
    return float((ranks_[:n_g].sum() - n_g * (n_g + 1) / 2) / (n_g * n_i))


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate: where the false-accept and false-reject rates cross (interpolated)."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    g, i = np.sort(genuine), np.sort(impostor)
    # Accept when score >= threshold.
    frr = np.searchsorted(g, thresholds, side="left") / len(g)
    far = 1 - np.searchsorted(i, thresholds, side="left") / len(i)
    frr = np.concatenate([[0.0], frr, [1.0]])
    far = np.concatenate([[1.0], far, [0.0]])
    diff = far - frr  # decreasing from +1 to -1
    j = int(np.argmax(diff <= 0))
    if diff[j] == 0:
        return float(far[j])
    # Linear interpolation between steps j-1 and j.
    t = diff[j - 1] / (diff[j - 1] - diff[j])
    return float(far[j - 1] + t * (far[j] - far[j - 1]))


def identification_metrics(scores: np.ndarray) -> dict[str, float]:
    """top1, R1, R10, R20, select10, auc and eer, with the gallery size and chance levels."""
    r = ranks(scores)
    n = len(r)
    g, i = genuine_impostor(scores)
    out: dict[str, float] = {"gallery_size": n, "top1": float(np.mean(r == 1)), "chance_top1": 1.0 / n}
    for name, share in RANK_SHARES.items():
        k = rank_threshold(share, n)
        out[name] = float(np.mean(r <= k))
        out[f"chance_{name}"] = k / n
    if n >= 10:
        out["select10"] = float(select_among(r, n, 10).mean())
        out["chance_select10"] = 0.1
    out["auc"], out["chance_auc"] = auc(g, i), 0.5
    out["eer"], out["chance_eer"] = eer(g, i), 0.5
    out["mean_rank"] = float(r.mean())
    return out


def cllr(scores: np.ndarray) -> float:
    """Log-likelihood-ratio cost (Brümmer and du Preez 2006) of scores that are natural-log
    likelihood ratios: 0.5 [mean over genuine pairs of log2(1 + 1/LR) + mean over impostor pairs
    of log2(1 + LR)]. 0 is perfect, 1.0 is a system that always says LR = 1; above 1, the
    ratios mislead (miscalibrated), whatever their ranking."""
    g, i = genuine_impostor(scores)
    return float(0.5 * (np.logaddexp(0, -g).mean() + np.logaddexp(0, i).mean()) / np.log(2))


def cllr_min(scores: np.ndarray) -> float:
    """The lowest :func:`cllr` that any monotone recalibration of these scores reaches: the cost
    of their discrimination alone (Brümmer and du Preez 2006). The optimal map is the
    pool-adjacent-violators fit of the pair labels on the scores (scikit-learn's isotonic
    regression), turned into likelihood ratios by dividing out the genuine pairs' share.
    cllr - cllr_min is what miscalibration costs; cllr_min near 1 means the scores carry
    little evidence, however they are calibrated."""
    g, i = genuine_impostor(scores)
    x = np.concatenate([g, i])
    y = np.concatenate([np.ones(len(g)), np.zeros(len(i))])
    posterior = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y).predict(x)
    # log LR = logit(posterior) - log prior odds; a pooled block holds both classes, so neither a
    # genuine pair's posterior reaches 0 nor an impostor's 1 (their costs stay finite)
    with np.errstate(divide="ignore"):
        log_lr = np.log(posterior) - np.log1p(-posterior) - np.log(len(g) / len(i))
    cost_g = np.logaddexp(0, -log_lr[: len(g)]).mean()
    cost_i = np.logaddexp(0, log_lr[len(g) :]).mean()
    return float(0.5 * (cost_g + cost_i) / np.log(2))


def assign_faces(scores: np.ndarray, seed: int = 0) -> np.ndarray:
    """The face given to each genome (row) when every genome is assigned a distinct face at once,
    maximizing the summed score (the Hungarian algorithm; Lippert et al.'s joint assignment); -1
    for the genomes left without one when there are more genomes than faces. Faces are shuffled
    (seeded) first, so that tied scores are broken at random, never in the order of the gallery
    (which would favour the true face wherever it shares its genome's position)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or not np.isfinite(s).all():
        raise GenofaceError(f"assignment needs a finite 2-D score matrix, got shape {s.shape}")
    perm = np.random.default_rng(seed).permutation(s.shape[1])
    rows, cols = linear_sum_assignment(s[:, perm], maximize=True)
    faces = np.full(s.shape[0], -1)
    faces[rows] = perm[cols]
    return faces


def top1_assigned(scores: np.ndarray, seed: int = 0) -> float:
    """Share of genomes given their own face (face i for genome i) by :func:`assign_faces`.
    Meaningful in a closed set: every genome's face is in the gallery."""
    s = _check_square(scores)
    return float(np.mean(assign_faces(s, seed) == np.arange(len(s))))


def bootstrap_ci(
    statistic: Callable[..., float],
    n_people: int | None = None,
    *,
    values: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval (``level``) of a statistic over people drawn with replacement.

    With ``values`` (n,) per-person values, ``statistic(sample, axis=-1)`` is a reduction such as
    ``np.mean``, evaluated on all resamples at once. Without, ``statistic(indices)`` is a function
    of the people drawn (an index array into ``range(n_people)``), called once per resample.
    ``n_boot`` resamples from ``seed``: the same seed gives the same interval.
    (``scipy.stats.bootstrap``, method "percentile": the BCa interval is undefined when every
    person has the same value, as the 0/1 hits of a model at chance often do.)
    """
    if values is None:
        if n_people is None:
            raise GenofaceError("bootstrap_ci needs the per-person values or n_people")
        data = np.arange(n_people)
    else:
        data = np.asarray(values, dtype=np.float64)
        if data.ndim != 1:
            raise GenofaceError(f"values must be one number per person, got shape {data.shape}")
        if n_people is not None and n_people != len(data):
            raise GenofaceError(f"values hold {len(data)} people but n_people is {n_people}")
    if len(data) < 2:
        raise GenofaceError(f"a bootstrap interval needs at least 2 people, got {len(data)}")
    result = bootstrap(
        (data,),
        statistic,
        n_resamples=n_boot,
        batch=max(1, _BOOTSTRAP_CELLS // len(data)),
        vectorized=values is not None,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    lo, hi = result.confidence_interval
    return float(lo), float(hi)
