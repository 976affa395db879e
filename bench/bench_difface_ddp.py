"""Difface on one process and on several (torch.distributed DDP, gloo on the CPU): wall time and
loss curves on the same simulated cohort, from the same seed, measured in the same run.

    .venv/bin/python bench/bench_difface_ddp.py                    # 2,000 people, 1 and 2 processes
    .venv/bin/python bench/bench_difface_ddp.py --processes 1 2 4 --epochs 3 --prior-epochs 3 --json

Each fit runs in a child process (default hyper-parameters but the epochs; torch's threads are
the machine's cores, divided among the processes). Printed: the whole fit (SNP selection, PCA and
process start-up included), the mean time of epochs 2.. of each stage, the speed-up over one
process, and how far each per-epoch loss is from one process's (relative). ``--json`` writes
bench/results/bench_difface_ddp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from importlib.metadata import version
from pathlib import Path

from _child import environment, run_json_child, simulate_cohort

CHILD = """
import json, sys, time
from genoface.cohort import Cohort
from genoface.models import DiffaceModel
if __name__ == "__main__":
    cohort, params = Cohort.load(sys.argv[1]), json.loads(sys.argv[2])
    marks = {}
    def progress(stage, done, total):
        marks.setdefault(stage, []).append(time.perf_counter())
    t = time.perf_counter()
    model = DiffaceModel(**params).fit(cohort, progress=progress)
    fit_s = time.perf_counter() - t
    per_epoch = {s: (m[-1] - m[0]) / (len(m) - 1) for s, m in marks.items() if len(m) > 1}  # epochs 2..
    print(json.dumps({"fit_s": fit_s, "per_epoch_s": per_epoch, "history": model.history_}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="people in the simulated cohort")
    ap.add_argument("--cohort", type=Path, help="an existing cohort directory instead of simulating one")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=3, help="stage-1 epochs (at least 2)")
    ap.add_argument("--prior-epochs", type=int, default=3, help="stage-2 epochs (at least 2)")
    ap.add_argument("--json", action="store_true", help="write bench/results/bench_difface_ddp.json")
    args = ap.parse_args()
    print(f"difface on 1 and more processes (DDP, gloo), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = args.cohort
        if cohort is None:
            cohort = Path(tmp) / "cohort"
            print(f"simulating {args.n:,} people: {simulate_cohort(args.n, cohort):.0f} s")
        runs = {}
        for p in args.processes:
            params = {"epochs": args.epochs, "prior_epochs": args.prior_epochs, "processes": p}
            runs[p] = run_json_child(CHILD, str(cohort), json.dumps(params))
            report(p, runs[p], runs[args.processes[0]])
    if args.json:
        out = Path(__file__).parent / "results" / "bench_difface_ddp.json"
        out.parent.mkdir(exist_ok=True)
        env = environment() | {"torch": version("torch")}
        record = {"args": {k: str(v) for k, v in vars(args).items()}, "environment": env, "runs": runs}
        out.write_text(json.dumps(record, indent=1))
        print(f"written {out}")


def report(p: int, run: dict, first: dict) -> None:
    epoch = run["per_epoch_s"]
    align, prior = epoch.get("difface: alignment", float("nan")), epoch.get("difface: diffusion prior", float("nan"))
    print(
        f"{p} process{'es' if p > 1 else ''}: fit {run['fit_s']:.0f} s (x{first['fit_s'] / run['fit_s']:.2f}); "
        f"per epoch: alignment {align:.1f} s (x{first['per_epoch_s']['difface: alignment'] / align:.2f}), "
        f"prior {prior:.2f} s; largest process {run['peak_gb']:.2f} GB"
    )
    for curve, values in run["history"].items():
        base = first["history"][curve]
        rel = max(abs(a - b) / abs(b) for a, b in zip(values, base, strict=True)) if values else 0.0
        print(f"  {curve:28s} {' '.join(f'{v:.4f}' for v in values)}  (max {100 * rel:.1f}% from the first run)")


if __name__ == "__main__":
    main()
