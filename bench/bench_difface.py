"""Benchmark Difface training and inference on a 10,000-person simulated cohort (2 CPU cores).

    .venv/bin/python bench/bench_difface.py                       # 2 + 3 epochs, extrapolated
    .venv/bin/python bench/bench_difface.py --epochs 30 --prior-epochs 200   # a full default run
    .venv/bin/python bench/bench_difface.py --device cuda        # on a GPU machine

Training runs in a child process whose peak RSS is read from wait4(). With fewer epochs than the
model's defaults, the time of a full default run is extrapolated from the measured time per
epoch of each stage (printed as such). Target (issue 4): a full training run in under 30 minutes
on 2 CPU cores. Inference: latency per person of the point prediction and of one DDIM sample
(50 steps), for one person and for a batch of 256. The peer measured in the same run is the
`lippert` model's fit on the same training people.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _child import run_json_child, simulate_cohort

CHILD = """
import json, sys, time
import numpy as np
from genoface.cohort import Cohort
from genoface.models import make_model
cohort, name, params = Cohort.load(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
train, test = cohort.split(0.2, seed=0)
stages = {}
marks = {}
def progress(stage, done, total):
    marks.setdefault(stage, [time.perf_counter()]).append(time.perf_counter())
t = time.perf_counter()
model = make_model(name, **params)
model = model.fit(train, progress=progress) if name == "difface" else model.fit(train)
fit_s = time.perf_counter() - t
# Mean time of epochs 2.. of each stage (the first epoch's start is not marked).
per_epoch = {s: (m[-1] - m[1]) / (len(m) - 2) for s, m in marks.items() if len(m) > 2}
out = {"fit_s": fit_s, "per_epoch_s": per_epoch, "n_train": train.n_samples}
if name == "difface":
    for n in (1, 256):
        people = test.subset(np.arange(n))
        model.predict(people)  # warm up
        t = time.perf_counter(); model.predict(people); out[f"predict_{n}_s"] = time.perf_counter() - t
        t = time.perf_counter(); model.sample(people, 1, seed=0); out[f"sample_{n}_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def run_child(cohort: Path, name: str, params: dict) -> dict:
    return run_json_child(CHILD, str(cohort), name, json.dumps(params))


def main() -> None:
    from genoface.models import DiffaceModel

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="people in the simulated cohort")
    ap.add_argument("--epochs", type=int, default=2, help="stage-1 epochs to run (at least 2)")
    ap.add_argument("--prior-epochs", type=int, default=3, help="stage-2 epochs to run (at least 2)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    defaults = DiffaceModel()
    print(f"difface benchmark, {os.cpu_count()} cores, device {args.device}, simulated cohort of {args.n:,} people")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort"
        print(f"simulating: {simulate_cohort(args.n, cohort):.0f} s")
        peer = run_child(cohort, "lippert", {})
        params = {"epochs": args.epochs, "prior_epochs": args.prior_epochs, "device": args.device}
        r = run_child(cohort, "difface", params)
    epoch = r["per_epoch_s"]
    align, prior = epoch.get("difface: alignment", 0.0), epoch.get("difface: diffusion prior", 0.0)
    fixed = r["fit_s"] - align * args.epochs - prior * args.prior_epochs
    full_epochs = (defaults._epochs("alignment", r["n_train"]), defaults._epochs("prior", r["n_train"]))
    full = fixed + align * full_epochs[0] + prior * full_epochs[1]
    print(
        f"train {r['n_train']:,} people: {args.epochs} + {args.prior_epochs} epochs in {r['fit_s']:.0f} s, peak {r['peak_gb']:.2f} GB"
    )
    print(
        f"  per epoch: alignment {align:.1f} s, diffusion prior {prior:.1f} s; set-up (GWAS, PCA, operators) {fixed:.0f} s"
    )
    label = (
        "measured" if (args.epochs, args.prior_epochs) == (defaults.epochs, defaults.prior_epochs) else "extrapolated"
    )
    verdict = "OK" if full <= 1800 else "MISSED"
    print(
        f"  full default run ({full_epochs[0]} + {full_epochs[1]} epochs): {full / 60:.1f} min ({label}; target 30 min) [{verdict}]"
    )
    print(
        f"  peer: lippert fit {peer['fit_s']:.0f} s, peak {peer['peak_gb']:.2f} GB; difface full run / lippert = {full / peer['fit_s']:.1f}x"
    )
    for n in (1, 256):
        print(
            f"inference, {n} people: predict {1000 * r[f'predict_{n}_s'] / n:.1f} ms/person, "
            f"one DDIM sample ({defaults.ddim_steps} steps) {1000 * r[f'sample_{n}_s'] / n:.1f} ms/person"
        )


if __name__ == "__main__":
    main()
