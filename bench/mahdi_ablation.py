"""What each part of ``mahdi`` buys, on simulated presets: the whole face against the parts, and
triplet embeddings against the raw shape-space scores (each part's shape PCA) with the same
classifiers and fusion; beside ``demographic``, ``lippert``, ``sero``, ``bayes`` and the oracle.

    .venv/bin/python bench/mahdi_ablation.py                          # five presets at 1,000 people
    .venv/bin/python bench/mahdi_ablation.py --presets oligogenic --n 600 --variants sero,mahdi
    .venv/bin/python bench/mahdi_ablation.py --json bench/results/mahdi_ablation.json

Each preset is simulated at --n people (seeded, built-in face), split 80/20, and every variant is
fitted on the same training people. Printed per setting (dna: the genome alone; dna+cov: age, sex
and BMI given): top1, the "closest match" rate (the share of held-out genomes whose own face scores
highest in the gallery of all held-out faces: Sero et al. and Mahdi et al. report it); R10 (own
face within the best 10%); AUC of genuine against impostor pairs; cllr for the models whose score
is a log likelihood ratio; and the face error (mm) of ``predict``. ``difface`` is left out: its
fit takes many minutes per preset (its figures are in docs/difface.md). Simulated cohorts, always.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np
from _ablation import ablation_arguments

from genoface.evaluate import cllr, identification_metrics
from genoface.models import make_model
from genoface.shape import builtin_shape_model
from genoface.simulate import simulate

VARIANTS = {
    "demographic": ("demographic", {}),
    "lippert": ("lippert", {}),
    "sero": ("sero", {}),
    "mahdi: whole face + shape scores": ("mahdi", {"levels": 0, "features": "shape"}),
    "mahdi: whole face + triplet": ("mahdi", {"levels": 0}),
    "mahdi: parts + shape scores": ("mahdi", {"features": "shape"}),
    "mahdi": ("mahdi", {}),
    "bayes": ("bayes", {}),
    "oracle": ("oracle", {}),
}
METRICS = ("top1", "R10", "auc", "cllr", "face_error_mm")


def run(preset: str, n: int, seed: int, variants: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cohort = simulate(preset, n=n, seed=seed, out=f"{tmp}/cohort", shape_model=builtin_shape_model()).cohort
        order = np.random.default_rng(seed).permutation(n)
        n_train = int(0.8 * n)
        train, test = cohort.subset(np.sort(order[:n_train])), cohort.subset(np.sort(order[n_train:]))
        faces = np.asarray(test.faces, dtype=np.float64)
        out = {}
        for label in variants:
            name, params = VARIANTS[label]
            t0 = time.perf_counter()
            model = make_model(name, **params).fit(train)
            row = {"fit_s": time.perf_counter() - t0}
            for setting, cov in (("dna", None), ("dna+cov", test.covariates)):
                scores = model.score_matrix(test, faces, cov)
                ident = identification_metrics(scores)
                row[setting] = {
                    "top1": ident["top1"],
                    "R10": ident["R10"],
                    "auc": ident["auc"],
                    "cllr": cllr(scores) if model.score_is_log_lr else None,
                    "face_error_mm": float(np.linalg.norm(model.predict(test, cov) - faces, axis=2).mean()),
                }
            out[label] = row
            print(f"  {preset} seed {seed}: {label} ({row['fit_s']:.0f} s)", file=sys.stderr, flush=True)
        return out


def print_table(preset: str, n: int, seeds: str, runs: list[dict], variants: list[str]) -> None:
    print(f"\n{preset} (simulated), {n} people, 80/20 (gallery {n - int(0.8 * n)}), seeds {seeds}: mean over seeds")
    head = " ".join(f"{m:>6.6s}" for m in METRICS)
    print(f"{'':32s} dna: {head}   dna+cov: {head}  fit s")
    for label in variants:
        cells = []
        for setting in ("dna", "dna+cov"):
            for metric in METRICS:
                values = [r[label][setting][metric] for r in runs]
                cells.append("-" if values[0] is None else f"{np.mean(values):.3f}")
        fit = np.mean([r[label]["fit_s"] for r in runs])
        half = len(METRICS)
        print(
            f"{label:32s}      {' '.join(f'{c:>6s}' for c in cells[:half])}            "
            f"{' '.join(f'{c:>6s}' for c in cells[half:])}  {fit:5.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    args, variants = ablation_arguments(__doc__, "oligogenic,strong-loci,realistic,mixed,han", VARIANTS, argv)
    figures = {}
    for preset in args.presets.split(","):
        runs = [run(preset, args.n, int(s), variants) for s in args.seeds.split(",")]
        figures[preset] = runs
        print_table(preset, args.n, args.seeds, runs, variants)
        if args.json:  # after every preset: a long run keeps what it measured
            with open(args.json, "w") as fh:
                json.dump({"n": args.n, "seeds": args.seeds, "presets": figures}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
