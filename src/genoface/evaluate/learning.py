"""Learning curves (``genoface plan``): nested training sets beside one fixed test set, and what
a model gains from the genome over the demographic baseline, per test person and with bootstrap
intervals. The use case that runs them is ``genoface.usecases.plan``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.evaluate._metrics import bootstrap_ci

#: Training sizes of ``genoface plan`` without ``--sizes``.
DEFAULT_SIZES = (500, 1000, 2000, 5000, 10000)
#: Fewest people in a training set: the models regress 30 shape components on covariates and SNPs.
MIN_TRAINING = 50
#: Fewest people in the test set (the protocol's top 10% of the gallery needs 10 faces).
MIN_TEST = 10
#: Test people without ``--test-size``: a fifth of everyone, at most this many.
MAX_TEST_SIZE, TEST_SHARE = 500, 0.2
# Seed stream of the order of the people, apart from the model seeds and the bootstrap's.
_ORDER_STREAM = 2_000_003


def parse_sizes(text: str) -> list[int]:
    """``"500,1000,2000"`` as checked training sizes (see :func:`check_sizes`)."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    try:
        sizes = [int(t) for t in items]
    except ValueError:
        raise GenofaceError(
            f"--sizes must be whole numbers separated by commas, e.g. 500,1000,2000; got {text!r}"
        ) from None
    return check_sizes(sizes)


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """The training sizes as a list, after refusing an empty list, sizes that are not whole
    numbers of at least :data:`MIN_TRAINING`, and sizes that do not increase."""
    sizes = list(sizes)
    if not sizes:
        raise GenofaceError("give at least one training size, e.g. --sizes 500,1000,2000")
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, Integral) or s < MIN_TRAINING]
    if bad:
        raise GenofaceError(f"training sizes must be whole numbers of at least {MIN_TRAINING} people, got {bad[0]!r}")
    if any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
        raise GenofaceError(f"training sizes must increase, e.g. 500,1000,2000; got {','.join(map(str, sizes))}")
    return [int(s) for s in sizes]


def default_test_size(n_people: int) -> int:
    """Test people drawn from ``n_people`` without ``--test-size``: a fifth, at most 500."""
    return int(min(MAX_TEST_SIZE, max(MIN_TEST, round(TEST_SHARE * n_people))))


def nested_split(n_people: int, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(test positions, training order) from one seeded permutation of ``n_people``: the test
    people are its first ``test_size`` (sorted), and the training set of size n is the first n of
    the rest (:func:`training_set`), so every smaller training set lies inside the larger ones and
    all of them are measured on the same people."""
    if test_size < MIN_TEST or n_people - test_size < MIN_TRAINING:
        raise GenofaceError(
            f"a test set of {test_size} of {n_people} people leaves {n_people - test_size} for training; "
            f"the test set needs at least {MIN_TEST} people and training at least {MIN_TRAINING}"
        )
    perm = np.random.default_rng([seed, _ORDER_STREAM]).permutation(n_people)
    return np.sort(perm[:test_size]), perm[test_size:]


def training_set(order: np.ndarray, n: int) -> np.ndarray:
    """Positions (sorted) of the training set of size ``n``: the first ``n`` of ``order``."""
    if n > len(order):
        raise GenofaceError(f"a training set of {n} people asks for more than the {len(order)} available")
    return np.sort(order[:n])


@dataclass(frozen=True)
class PersonErrors:
    """A model's errors on each test person (the evaluation's per-person figures): the mean vertex distance (mm, what face_error_mm
    averages) and the squared distance summed over all coordinates (mm², whose mean is the
    face variance the model leaves unexplained)."""

    face_error_mm: np.ndarray  # (n,)
    squared_mm2: np.ndarray  # (n,)


def gain_over_baseline(
    baseline: PersonErrors, model: PersonErrors, oracle: PersonErrors | None, *, n_boot: int, seed: int
) -> dict:
    """What ``model`` gains from the genome over ``baseline`` (the demographic model) on the same
    test people, with paired bootstrap 95% intervals (the same people resampled for all three):

    - ``genome_variance_mm2``: the drop in mean squared error, i.e. the face variance explained
      from the genome beyond the covariates;
    - ``genetic_share`` (with ``oracle``): (baseline − model) / (baseline − oracle) in face
      error; None where the oracle does not beat the baseline.
    """
    drop = baseline.squared_mm2 - model.squared_mm2
    out = {
        "genome_variance_mm2": float(drop.mean()),
        "genome_variance_mm2_ci": bootstrap_ci(np.mean, values=drop, n_boot=n_boot, seed=seed),
        "genetic_share": None,
        "genetic_share_ci": None,
    }
    if oracle is None:
        return out
    gain = baseline.face_error_mm - model.face_error_mm
    gap = baseline.face_error_mm - oracle.face_error_mm
    if gap.mean() <= 0:
        return out

    def share(idx: np.ndarray) -> float:
        g = gap[idx].mean()
        return float(gain[idx].mean() / g) if g > 0 else np.nan

    lo, hi = bootstrap_ci(share, len(gap), n_boot=n_boot, seed=seed)
    out["genetic_share"] = float(gain.mean() / gap.mean())
    out["genetic_share_ci"] = (lo, hi) if np.isfinite([lo, hi]).all() else None
    return out
