"""Training time of ``mahdi`` at 10,000 people on this machine (target: under 30 minutes on 2 cores),
stage by stage, beside ``sero`` (the same SNP selection and demographic features, no networks)
measured in the same run.

    .venv/bin/python bench/bench_mahdi.py                 # 10,000 people, default parameters
    .venv/bin/python bench/bench_mahdi.py --n 2000 --json # a quick run; figures to bench/results/

A realistic cohort is simulated once (built-in face, seed 1). Each model then runs in its own
child process (its peak RSS is its own): load the cohort, split 80/20, fit on the training people
(timed; for mahdi each stage from its progress reports), then score the held-out people against
their faces, without and with covariates (timed). Simulated cohorts, always.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _child import environment, run_json_child, simulate_cohort

CHILD = """
import json, sys, time
import numpy as np
import torch
from genoface.cohort import Cohort
from genoface.evaluate import identification_metrics
from genoface.models import fit_model, make_model
torch.set_num_threads(int(sys.argv[3]))
cohort = Cohort.load(sys.argv[1])
train, test = cohort.split(0.2, seed=0)
stages, last = {}, [time.perf_counter()]
def progress(stage, done, total):
    now = time.perf_counter()
    key = "set-up and SNP selection" if done == 0 else stage  # the work before a stage's first report
    stages[key] = stages.get(key, 0.0) + now - last[0]
    last[0] = now
t = time.perf_counter()
last[0] = t
model = fit_model(make_model(sys.argv[2]), train, progress=progress)
fit_s = time.perf_counter() - t
t = time.perf_counter()
faces = np.asarray(test.faces, dtype=np.float64)
top1 = {}
for name, cov in (("dna", None), ("dna+cov", test.covariates)):
    scores = model.score_matrix(test, faces, cov)
    top1[name] = float(np.mean((scores > np.diag(scores)[:, None]).sum(axis=1) == 0))
eval_s = time.perf_counter() - t
print(json.dumps({"fit_s": fit_s, "stages_s": stages, "eval_s": eval_s, "top1": top1,
                  "n_train": train.n_samples, "n_test": test.n_samples}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="people in the simulated cohort")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of each child")
    ap.add_argument("--json", action="store_true", help="also write bench/results/bench_mahdi.json")
    args = ap.parse_args()
    print(f"mahdi training benchmark, {os.cpu_count()} cores, simulated realistic cohort of {args.n:,} people")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort"
        simulate_s = simulate_cohort(args.n, cohort)
        print(f"simulating: {simulate_s:.0f} s")
        results = {name: run_json_child(CHILD, str(cohort), name, str(args.threads)) for name in ("sero", "mahdi")}
    for name, r in results.items():
        print(
            f"{name:<6} fit {r['fit_s']:8.1f} s  score {r['eval_s']:6.1f} s  peak {r['peak_gb']:5.2f} GB  "
            f"top1 dna {r['top1']['dna']:.3f}  dna+cov {r['top1']['dna+cov']:.3f}  ({r['n_train']:,} trained)"
        )
    for stage, seconds in results["mahdi"]["stages_s"].items():
        print(f"  mahdi {stage:<24} {seconds:8.1f} s")
    minutes = results["mahdi"]["fit_s"] / 60
    print(
        f"mahdi fit: {minutes:.1f} min (target under 30 min); {results['mahdi']['fit_s'] / results['sero']['fit_s']:.0f}x sero"
    )
    if args.json:
        out = Path(__file__).parent / "results" / "bench_mahdi.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(
            json.dumps(
                {"n": args.n, "simulate_s": simulate_s, "results": results, "environment": environment()}, indent=1
            )
        )
        print(f"written: {out}")


if __name__ == "__main__":
    main()
