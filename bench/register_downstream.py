"""Does registration cost the models anything? (issue target: `lippert`'s face_error_mm on faces
that went raw scan -> `genoface register` within 0.2 mm of the same evaluation on the original faces.)

    .venv/bin/python bench/register_downstream.py --json bench/results/register_downstream.json

A cohort of 200 people is simulated (strong-loci preset, built-in face, seed 1). Each face becomes a
raw scan (as in the tests: neck band, re-meshed, noise, holes, random pose, cm) with a five-point
landmark file; `genoface register --genotypes --covariates` turns the scans back into a cohort.
`genoface evaluate --models mean,lippert` then runs on both cohorts with the same split (seed 0,
20% held out), each against its own faces. Simulated data, always.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FIVE = ("pronasale", "endocanthion_l", "endocanthion_r", "cheilion_l", "cheilion_r")


def genoface(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genoface", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def write_raw_scans(cohort_dir: Path, root: Path) -> None:
    from genoface.cohort import load_cohort
    from genoface.io import write_mesh
    from genoface.shape import builtin_shape_model
    from genoface.simulate import simulate_raw_scan

    cohort = load_cohort(cohort_dir, use_cache=False)
    shape = builtin_shape_model()
    (root / "scans").mkdir()
    (root / "landmarks").mkdir()
    for i, sid in enumerate(cohort.sample_ids):
        scan = simulate_raw_scan(cohort.faces[i], shape.triangles, shape.landmarks, np.random.default_rng(i))
        write_mesh(root / "scans" / f"{sid}.ply", scan.vertices, scan.triangles)
        rows = ["name x y z"] + [f"{k} {' '.join(f'{c:.5f}' for c in scan.landmarks[k])}" for k in FIVE]
        (root / "landmarks" / f"{sid}.txt").write_text("\n".join(rows) + "\n")


def face_errors(report: Path) -> dict:
    metrics = json.loads((report / "metrics.json").read_text())
    rows = [r for r in metrics["results"] if r.get("snp_fraction", 1.0) == 1.0 and r["setting"] == "dna+cov"]
    return {r["model"]: r["face_error_mm"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        original = root / "original"
        genoface("simulate", "--preset", "strong-loci", "--n", str(args.n), "--seed", "1", "--out", str(original))
        write_raw_scans(original, root)
        geno = next(p for p in original.iterdir() if p.name in ("genotypes.vcf.gz", "genotypes.bed"))
        registered = root / "registered"
        seconds = genoface(
            "register", "--template", str(original), "--scans", str(root / "scans"), "--landmarks",
            str(root / "landmarks"), "--units", "cm", "--out", str(registered), "--jobs", str(args.jobs),
            "--genotypes", str(geno), "--covariates", str(original / "covariates.tsv"),
        )  # fmt: skip
        results = {}
        for name, cohort in (("original", original), ("registered", registered)):
            genoface("evaluate", "--cohort", str(cohort), "--models", "mean,lippert", "--seed", "0",
                     "--out", str(root / f"eval_{name}"))  # fmt: skip
            results[name] = face_errors(root / f"eval_{name}")
        qc = (registered / "registration" / "qc.tsv").read_text().splitlines()
    diff = results["registered"]["lippert"] - results["original"]["lippert"]
    print(
        f"{args.n} people; registration {seconds:.0f} s with {args.jobs} processes ({seconds / args.n:.1f} s per scan)"
    )
    for model in ("mean", "lippert"):
        print(
            f"  {model:8s} face_error_mm original {results['original'][model]:.3f}  registered {results['registered'][model]:.3f}"
        )
    print(f"  lippert difference {diff:+.3f} mm (target: within 0.2 mm)")
    if args.json:
        sys.path.insert(0, str(Path(__file__).parent))
        from _child import environment

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": args.n, "face_error_mm": results, "lippert_difference_mm": diff,
                                         "register_seconds": seconds, "jobs": args.jobs, "qc_rows": len(qc) - 1,
                                         "environment": environment()}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
