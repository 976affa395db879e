"""What each part of ``bayes`` buys, on simulated presets: covariates only; + sparse SNP effects;
+ the polygenic background; + the full predictive covariance in matching (against its diagonal);
+ the genetic parts' scales learnt on held-out halves (the default model);
beside ``demographic``, ``lippert`` and the oracle.

    .venv/bin/python bench/bayes_ablation.py                          # oligogenic, han, realistic, mixed at 1,000
    .venv/bin/python bench/bayes_ablation.py --presets han --n 2000 --seeds 1,2
    .venv/bin/python bench/bayes_ablation.py --variants "demographic,bayes: + held-out scales"

Each preset is simulated at --n people (seeded), split 80/20, and every variant is fitted on the
same training people. Printed per setting (dna: the genome alone; dna+cov: age, sex and BMI
given): face error (mm), top1 in the test gallery, and cllr and cllr_min (the cost of the
scores' discrimination alone) for the models whose score is a log likelihood ratio. Simulated cohorts, always.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np
from _ablation import ablation_arguments

from genoface.evaluate import cllr, cllr_min, identification_metrics
from genoface.models import make_model
from genoface.shape import builtin_shape_model
from genoface.simulate import simulate

VARIANTS = {
    "demographic": ("demographic", {}),
    "lippert": ("lippert", {}),
    "bayes: covariates only": ("bayes", {"n_snps": 0, "background": False, "full_covariance": False}),
    "bayes: + sparse": ("bayes", {"background": False, "full_covariance": False, "scale_genetic": False}),
    "bayes: + background": ("bayes", {"full_covariance": False, "scale_genetic": False}),
    "bayes: + full covariance": ("bayes", {"scale_genetic": False}),
    "bayes: + held-out scales": ("bayes", {}),
    "oracle": ("oracle", {}),
}


def run(preset: str, n: int, seed: int, variants: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cohort = simulate(preset, n=n, seed=seed, out=f"{tmp}/cohort", shape_model=builtin_shape_model()).cohort
        order = np.random.default_rng(seed).permutation(n)
        n_train = int(0.8 * n)
        train, test = cohort.subset(order[:n_train]), cohort.subset(order[n_train:])
        faces = np.asarray(test.faces, dtype=np.float64)
        out = {}
        for label in variants:
            name, params = VARIANTS[label]
            t0 = time.perf_counter()
            model = make_model(name, **params).fit(train)
            row = {"fit_s": time.perf_counter() - t0}
            for setting, cov in (("dna", None), ("dna+cov", test.covariates)):
                scores = model.score_matrix(test, faces, cov)
                row[setting] = {
                    "face_error_mm": float(np.linalg.norm(model.predict(test, cov) - faces, axis=2).mean()),
                    "top1": identification_metrics(scores)["top1"],
                    "cllr": cllr(scores) if model.score_is_log_lr else None,
                    "cllr_min": cllr_min(scores) if model.score_is_log_lr else None,
                }
            out[label] = row
            print(f"  {preset} seed {seed}: {label} ({row['fit_s']:.0f} s)", file=sys.stderr, flush=True)
        return out


def main(argv: list[str] | None = None) -> int:
    args, variants = ablation_arguments(__doc__, "oligogenic,han,realistic,mixed", VARIANTS, argv)
    figures = {}
    for preset in args.presets.split(","):
        runs = [run(preset, args.n, int(s), variants) for s in args.seeds.split(",")]
        figures[preset] = runs
        print(f"\n{preset} (simulated), {args.n} people, 80/20, seeds {args.seeds}: mean over seeds")
        print(
            f"{'':26s} {'dna: mm':>8s} {'top1':>6s} {'cllr':>6s} {'min':>6s}   "
            f"{'dna+cov: mm':>11s} {'top1':>6s} {'cllr':>6s} {'min':>6s}  fit s"
        )
        for label in variants:
            cells = []
            for setting in ("dna", "dna+cov"):
                for metric in ("face_error_mm", "top1", "cllr", "cllr_min"):
                    values = [r[label][setting][metric] for r in runs]
                    cells.append("-" if values[0] is None else f"{np.mean(values):.3f}")
            fit = np.mean([r[label]["fit_s"] for r in runs])
            print(
                f"{label:26s} {cells[0]:>8s} {cells[1]:>6s} {cells[2]:>6s} {cells[3]:>6s}   "
                f"{cells[4]:>11s} {cells[5]:>6s} {cells[6]:>6s} {cells[7]:>6s}  {fit:5.0f}"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
