"""Benchmark every baseline model: time and peak memory to train and to evaluate at 10,000 people.

    .venv/bin/python bench/bench_models.py                    # 10,000 people, every model
    .venv/bin/python bench/bench_models.py --n 2000 --models lippert,sero

A cohort is simulated once (realistic preset, built-in face, PLINK bed); then each model runs in
its own child process, so that its peak RSS (read from wait4) is its own: load the cohort from
its cache, split 80/20, fit on the training people (timed), and score the held-out people in
both settings at all SNPs — predict plus the full score matrix, as `genoface evaluate` does per
setting and SNP fraction (timed). The peer, measured in the same run, is the `mean` model: the
floor of what loading a cohort and writing predictions costs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _child import run_json_child, simulate_cohort

CHILD = """
import json, sys, time
import numpy as np
from genoface.cohort import Cohort
from genoface.models import make_model
cohort = Cohort.load(sys.argv[1])
train, test = cohort.split(0.2, seed=0)
t = time.perf_counter()
model = make_model(sys.argv[2]).fit(train)
fit_s = time.perf_counter() - t
t = time.perf_counter()
faces = np.asarray(test.faces, dtype=np.float64)
for cov in (None, test.covariates):
    model.predict(test, cov)
    model.score_matrix(test, faces, cov)
eval_s = time.perf_counter() - t
print(json.dumps({"fit_s": fit_s, "eval_s": eval_s, "n_train": train.n_samples, "n_test": test.n_samples}))
"""


def run_model(cohort: Path, name: str) -> dict:
    return run_json_child(CHILD, str(cohort), name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="people in the simulated cohort")
    ap.add_argument("--models", default="mean,demographic,lippert,sero,oracle", help="comma-separated model names")
    args = ap.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    print(f"genoface model benchmark, {os.cpu_count()} cores, simulated realistic cohort of {args.n:,} people")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort"
        print(f"simulating: {simulate_cohort(args.n, cohort):.0f} s")
        run_model(cohort, "mean")  # builds the cohort cache, so no model pays for it
        results = {name: run_model(cohort, name) for name in dict.fromkeys(["mean", *names])}
    floor = results["mean"]
    print(f"{'model':<12} {'train s':>9} {'evaluate s':>11} {'peak GB':>8}   vs mean (train, evaluate, memory)")
    for name, r in results.items():
        print(
            f"{name:<12} {r['fit_s']:9.1f} {r['eval_s']:11.1f} {r['peak_gb']:8.2f}   "
            f"{r['fit_s'] / max(floor['fit_s'], 1e-3):.1f}x, {r['eval_s'] / max(floor['eval_s'], 1e-3):.1f}x, "
            f"{r['peak_gb'] / floor['peak_gb']:.1f}x"
        )
    r = next(iter(results.values()))
    print(f"(train {r['n_train']:,} people, evaluate {r['n_test']:,}: predict + score matrix, dna and dna+cov)")


if __name__ == "__main__":
    main()
