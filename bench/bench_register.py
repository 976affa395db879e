"""Seconds per scan of `genoface register` for a 60,000-vertex scan on one core (target: under 20 s),
and peak memory, beside trimesh's `nricp_amberg` alone with its default schedule (the library step
that genoface's pipeline wraps) measured in the same run.

    .venv/bin/python bench/bench_register.py --json bench/results/bench_register.json

One raw scan is simulated from a random built-in face (seed 7: neck band, re-meshed to 60,000
vertices, 0.2 mm noise, holes, random pose, mm) with five landmarks. Each measurement runs in its
own child process pinned to one thread (peak RSS is its own): reading the scan, the pose, the
shape-model fit (where asked), the non-rigid fit and the quality figures, not the report's render.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _child import environment, run_json_child  # noqa: E402

CHILD = """
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
threadpool_limits(1)
from genoface.io import read_mesh, read_landmarks
from genoface.shape import Template, builtin_shape_model, register_scan
what, scan_path, marks_path = sys.argv[1:4]
model = builtin_shape_model()
template = Template.of_shape_model(model) if what.startswith("prior") else Template(model.mean, model.triangles, dict(model.landmarks))
start = time.perf_counter()
vertices, triangles = read_mesh(scan_path)
marks = read_landmarks(marks_path)
if what == "trimesh-nricp":
    import trimesh
    from trimesh.registration import nricp_amberg
    from genoface.shape import rigid_align
    names = list(marks)
    _, r, t, s = rigid_align(model.mean[[model.landmarks[n] for n in names]], np.array([marks[n] for n in names]), scale=True)
    source = trimesh.Trimesh(s * model.mean @ r.T + t, model.triangles, process=False)
    nricp_amberg(source, trimesh.Trimesh(vertices, triangles, process=False))
else:
    register_scan(vertices, triangles, template, None if what.endswith("no-landmarks") else marks)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vertices", type=int, default=61_500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from genoface.io import write_mesh
    from genoface.shape import builtin_shape_model
    from genoface.simulate import simulate_raw_scan

    model = builtin_shape_model()
    rng = np.random.default_rng(7)
    face = model.reconstruct(rng.normal(size=(1, model.n_components)))[0]
    scan = simulate_raw_scan(face, model.triangles, model.landmarks, rng, n_vertices=args.vertices, units="mm")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        scan_path, marks_path = Path(tmp) / "scan.ply", Path(tmp) / "scan.txt"
        write_mesh(scan_path, scan.vertices, scan.triangles)
        five = ("pronasale", "endocanthion_l", "endocanthion_r", "cheilion_l", "cheilion_r")
        marks_path.write_text("".join(f"{k} {' '.join(map(str, scan.landmarks[k]))}\n" for k in five))
        for what in ("landmarks", "no-landmarks", "prior", "prior-no-landmarks", "trimesh-nricp"):
            rows[what] = run_json_child(CHILD, what, str(scan_path), str(marks_path))
    print(
        f"scan: {len(scan.vertices):,} vertices, {len(scan.triangles):,} triangles; template {model.n_vertices:,} vertices; 1 thread"
    )
    peer = rows["trimesh-nricp"]["seconds"]
    for what, r in rows.items():
        print(
            f"  {what:14s} {r['seconds']:6.1f} s per scan  peak {r['peak_gb']:.2f} GB  ({r['seconds'] / peer:.2f}x trimesh nricp alone)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {"scan_vertices": len(scan.vertices), "rows": rows, "environment": environment()}
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
