"""Reliability of `bayes`'s calibrated likelihood ratios on held-out genome-face pairs.

    .venv/bin/python bench/bayes_reliability.py                      # strong-loci, 700 people, seed 11
    .venv/bin/python bench/bayes_reliability.py --preset oligogenic --n 1000 --seed 1

A simulated cohort (built-in face) is split 80/20 at random (seeded); `bayes` is fitted on the
training people (``--n-snps`` sparse SNPs) and scores every held-out genome against every held-out
face, from the genome alone (dna) and with age, sex and BMI (dna+cov). Each pair's log LR becomes
the posterior probability that it is the true pair, with one true face among the k faces as the
prior (prior odds 1 / (k - 1)). Pairs are binned by that probability; each bin prints the true
pairs it was expected to hold (the sum of its probabilities), the number it holds, and the
binomial 95% band of that number at the bin's mean probability. Calibrated LRs lie within the
band. The same table follows for the raw scores (the calibration map set to the identity).
Simulated cohorts, always.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np
from scipy.stats import binom

from genoface.evaluate import cllr, cllr_min
from genoface.models import make_model
from genoface.shape import builtin_shape_model
from genoface.simulate import simulate

EDGES = np.array([0.0, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0 + 1e-9])


def reliability_rows(scores: np.ndarray) -> list[dict]:
    """One row per probability bin holding pairs: pairs, expected and observed true pairs, band."""
    k = len(scores)
    truth = np.eye(k, dtype=bool).ravel()
    posterior = 1.0 / (1.0 + np.exp(-(scores.ravel() - np.log(k - 1))))
    rows = []
    for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True):
        inside = (posterior >= lo) & (posterior < hi)
        if not inside.any():
            continue
        expected = float(posterior[inside].sum())
        band = binom.ppf([0.025, 0.975], int(inside.sum()), expected / inside.sum())
        observed = int(truth[inside].sum())
        rows.append(
            {"bin": (lo, min(hi, 1.0)), "pairs": int(inside.sum()), "expected": expected, "observed": observed,
             "band": (int(band[0]), int(band[1])), "within": bool(band[0] <= observed <= band[1])}
        )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="strong-loci")
    parser.add_argument("--n", type=int, default=700)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--n-snps", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cohort = simulate(
            args.preset, n=args.n, seed=args.seed, out=f"{tmp}/c", shape_model=builtin_shape_model()
        ).cohort
        order = np.random.default_rng(args.seed).permutation(cohort.n_samples)
        cut = int(0.8 * cohort.n_samples)
        train, test = cohort.subset(order[:cut]), cohort.subset(order[cut:])
        model = make_model("bayes", n_snps=args.n_snps).fit(train)
    faces = np.asarray(test.faces, dtype=np.float64)
    print(
        f"{args.preset} (simulated), {args.n} people, seed {args.seed}: {train.n_samples} trained, {test.n_samples} held out"
    )
    print(
        f"calibration (slope, intercept) dna {model.calibration_[0].round(3)}, dna+cov {model.calibration_[1].round(3)}"
    )
    calibrated = model.calibration_.copy()
    for label, calibration in (("calibrated", calibrated), ("raw", np.array([[1.0, 0.0], [1.0, 0.0]]))):
        model.calibration_ = calibration
        for setting, covariates in (("dna", None), ("dna+cov", test.covariates)):
            scores = model.score_matrix(test, faces, covariates)
            print(f"\n{label}, {setting}: cllr {cllr(scores):.3f}, cllr_min {cllr_min(scores):.3f}")
            for r in reliability_rows(scores):
                lo, hi = r["bin"]
                print(
                    f"  p in [{lo:.2f}, {hi:.2f}): {r['pairs']:6d} pairs, true expected {r['expected']:7.1f}, "
                    f"observed {r['observed']:4d}, 95% band [{r['band'][0]}, {r['band'][1]}]"
                    f"{'' if r['within'] else '  OUTSIDE'}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
