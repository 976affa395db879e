"""Does registration cost the models anything? (issue target: `lippert`'s face_error_mm on faces
that went raw scan -> `genoface register` within 0.2 mm of the same evaluation on the original faces.)

    .venv/bin/python bench/register_downstream.py --json bench/results/register_downstream.json
    .venv/bin/python bench/register_downstream.py --shape-model builtin --json bench/results/register_downstream_prior5.json
    .venv/bin/python bench/register_downstream.py --shape-model builtin --landmark-set named \
        --json bench/results/register_downstream_prior.json

A cohort of 200 people is simulated (strong-loci preset, built-in face, seed 1). Each face becomes a
raw scan (as in the tests: neck band, re-meshed, noise, holes, random pose, cm) with a landmark
file (five points, or all 16 named ones with ``--landmark-set named``); `genoface register
--genotypes --covariates` turns the scans back into a cohort. `genoface evaluate --models
mean,lippert` then runs with the same split (seed 0, 20% held out) on three cohorts, each against
its own faces: the original; the original with each face moved rigidly onto the template, as
`genoface register` delivers faces (the same faces in register's frame); and the registered one.
Simulated data, always.
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


def write_raw_scans(cohort_dir: Path, root: Path, landmark_set: str) -> None:
    from genoface.cohort import load_cohort
    from genoface.io import write_mesh
    from genoface.shape import builtin_shape_model
    from genoface.simulate import simulate_raw_scan

    cohort = load_cohort(cohort_dir, use_cache=False)
    shape = builtin_shape_model()
    (root / "scans").mkdir()
    (root / "landmarks").mkdir()
    names = FIVE if landmark_set == "five" else tuple(shape.landmarks)
    for i, sid in enumerate(cohort.sample_ids):
        scan = simulate_raw_scan(cohort.faces[i], shape.triangles, shape.landmarks, np.random.default_rng(i))
        write_mesh(root / "scans" / f"{sid}.ply", scan.vertices, scan.triangles)
        rows = ["name x y z"] + [f"{k} {' '.join(f'{c:.5f}' for c in scan.landmarks[k])}" for k in names]
        (root / "landmarks" / f"{sid}.txt").write_text("\n".join(rows) + "\n")


def aligned_copy(original: Path, out: Path) -> None:
    """The original cohort with each face moved rigidly onto the template, as `genoface register`
    delivers its faces (rotation and translation by least squares, no scale)."""
    import dataclasses

    from genoface.cohort import load_cohort
    from genoface.shape import rigid_align

    cohort = load_cohort(original, use_cache=False)
    faces = np.empty(np.shape(cohort.faces), dtype=np.float32)
    for i, face in enumerate(np.asarray(cohort.faces, dtype=float)):
        faces[i], _, _, _ = rigid_align(face, cohort.template_vertices)
    dataclasses.replace(cohort, faces=faces).save(out)


def face_figures(cohorts: dict[str, Path]) -> dict:
    """How far each registered face lies from its original, as simulated and moved onto the
    template (mm, mean over vertices and people), and each cohort's spread: the mean distance of
    its faces from its own mean face."""
    from genoface.cohort import load_cohort

    loaded = {name: load_cohort(path, use_cache=False) for name, path in cohorts.items()}
    people = loaded["original"].sample_ids
    faces = {}
    for name, cohort in loaded.items():
        order = {sid: i for i, sid in enumerate(cohort.sample_ids)}
        faces[name] = np.asarray(cohort.faces, dtype=float)[[order[sid] for sid in people]]
    spread = {k: float(np.linalg.norm(f - f.mean(0), axis=-1).mean()) for k, f in faces.items()}
    error = {k: float(np.linalg.norm(faces["registered"] - faces[k], axis=-1).mean()) for k in ("original", "aligned")}
    return {"registered_against_mm": error, "spread_mm": spread}


def face_errors(report: Path) -> dict:
    metrics = json.loads((report / "metrics.json").read_text())
    rows = [r for r in metrics["results"] if r.get("snp_fraction", 1.0) == 1.0 and r["setting"] == "dna+cov"]
    return {r["model"]: r["face_error_mm"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--shape-model", default=None, help="register with this prior (builtin or an SFM folder)")
    parser.add_argument("--landmark-set", choices=("five", "named"), default="five")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    prior = () if args.shape_model is None else ("--shape-model", args.shape_model)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        original = root / "original"
        genoface("simulate", "--preset", "strong-loci", "--n", str(args.n), "--seed", "1", "--out", str(original))
        write_raw_scans(original, root, args.landmark_set)
        geno = next(p for p in original.iterdir() if p.name in ("genotypes.vcf.gz", "genotypes.bed"))
        registered = root / "registered"
        seconds = genoface(
            "register", "--template", str(original), "--scans", str(root / "scans"), "--landmarks",
            str(root / "landmarks"), "--units", "cm", "--out", str(registered), "--jobs", str(args.jobs),
            "--genotypes", str(geno), "--covariates", str(original / "covariates.tsv"), *prior,
        )  # fmt: skip
        cohorts = {"original": original, "aligned": root / "aligned", "registered": registered}
        aligned_copy(original, cohorts["aligned"])
        results = {}
        for name, cohort in cohorts.items():
            genoface("evaluate", "--cohort", str(cohort), "--models", "mean,lippert", "--seed", "0",
                     "--out", str(root / f"eval_{name}"))  # fmt: skip
            results[name] = face_errors(root / f"eval_{name}")
        qc = (registered / "registration" / "qc.tsv").read_text().splitlines()
        faces = face_figures(cohorts)
    diff = {k: results["registered"]["lippert"] - results[k]["lippert"] for k in ("original", "aligned")}
    print(
        f"{args.n} people; registration {seconds:.0f} s with {args.jobs} processes ({seconds / args.n:.1f} s per scan)"
    )
    print("  face_error_mm      " + "  ".join(f"{name:>10s}" for name in cohorts) + "   spread mm")
    for model in ("mean", "lippert"):
        print(f"  {model:18s} " + "  ".join(f"{results[name][model]:10.3f}" for name in cohorts))
    print("  spread (mm)        " + "  ".join(f"{faces['spread_mm'][name]:10.3f}" for name in cohorts))
    print(f"  lippert, registered minus original {diff['original']:+.3f} mm (target: within 0.2 mm); "
          f"minus the originals moved onto the template {diff['aligned']:+.3f} mm")  # fmt: skip
    print(f"  registered faces against the originals {faces['registered_against_mm']['original']:.3f} mm per vertex, "
          f"against the originals moved onto the template {faces['registered_against_mm']['aligned']:.3f} mm")  # fmt: skip
    if args.json:
        sys.path.insert(0, str(Path(__file__).parent))
        from _child import environment

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": args.n, "shape_model": args.shape_model,
                                         "landmark_set": args.landmark_set, "face_error_mm": results, "lippert_difference_mm": diff,
                                         "register_seconds": seconds, "jobs": args.jobs, "qc_rows": len(qc) - 1, **faces,
                                         "environment": environment()}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
