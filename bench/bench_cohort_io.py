"""Benchmark the cohort directory: write, first load (parses files, builds the cache), second
load (memory-maps the cache), for genotypes as VCF and as PLINK bed.

    .venv/bin/python bench/bench_cohort_io.py                                 # 10,000 x 50,000 x 3,448
    .venv/bin/python bench/bench_cohort_io.py --n 1000 --m 5000 --formats vcf # quick look
    .venv/bin/python bench/bench_cohort_io.py --genotypes-only --n 2000 --m 20000 # the genotype file alone

Random data of the right types: dosages with 1% missing (the last 2,000 SNPs on X, males
hemizygous there), a 3,448-vertex grid template, faces = template + noise (float32, mm). Each
phase runs in a fresh subprocess, so "peak RSS" is that phase's own high-water mark
(resource.getrusage of the child; Python and imports included).

``--genotypes-only`` times the genotype file alone: ``write_vcf`` (BGZF + its .tbi) or
``write_plink``, then ``read_genotypes`` (SNPs only, the cohort's path) twice, with CPU seconds
beside wall seconds (the CPU figure is steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_rss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _grid_template(n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """A curved rectangular grid of exactly ``n_vertices`` vertices (rows x cols), mm."""
    rows = 8
    cols = n_vertices // rows
    assert rows * cols == n_vertices, "choose a vertex count divisible by 8"
    u, v = np.meshgrid(np.linspace(-60, 60, cols), np.linspace(-80, 80, rows))
    z = 40 - (u**2) / 200
    verts = np.stack([u.ravel(), v.ravel(), z.ravel()], axis=1)
    idx = np.arange(n_vertices).reshape(rows, cols)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])
    return verts, tris


def _make_cohort(n: int, m: int, n_vertices: int, seed: int = 0):
    import pandas as pd

    from genoface.cohort import COHORT_FORMAT_VERSION, Cohort

    rng = np.random.default_rng(seed)
    n_x = min(2000, m // 10)
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    verts, tris = _grid_template(n_vertices)
    g = np.empty((n, m), dtype=np.int8)
    faces = np.empty((n, n_vertices, 3), dtype=np.float32)
    for i in range(0, n, 500):  # in blocks, so that temporaries do not dominate the peak RSS
        s = slice(i, min(i + 500, n))
        g[s] = rng.integers(0, 3, size=(s.stop - s.start, m), dtype=np.int8)
        males = np.flatnonzero(sex[s] == "M") + i
        g[males, m - n_x :] = 2 * rng.integers(0, 2, size=(len(males), n_x), dtype=np.int8)
        g[s][rng.random((s.stop - s.start, m), dtype=np.float32) < 0.01] = -1
        faces[s] = verts + rng.normal(scale=2.0, size=(s.stop - s.start, n_vertices, 3)).astype(np.float32)
    chrom = np.array(["1"] * (m - n_x) + ["X"] * n_x)
    pos = np.concatenate([np.arange(1, m - n_x + 1), np.arange(1, n_x + 1)]) * 100
    variants = pd.DataFrame(
        {"chrom": chrom, "pos": pos, "id": [f"rs{j + 1}" for j in range(m)], "ref": "A", "alt": "G"}
    )
    ids = np.array([f"GF{i + 1:06d}" for i in range(n)])
    cov = pd.DataFrame(
        {"sex": sex, "age": np.round(rng.uniform(18, 80, n), 2), "bmi": np.round(rng.uniform(17, 40, n), 2),
         "population": rng.choice(["CEU", "YRI", "CHB"], n)},
        index=pd.Index(ids, name="sample_id"),
    )  # fmt: skip
    meta = {"format_version": COHORT_FORMAT_VERSION, "name": "bench", "units": "mm", "simulated": False}
    return Cohort(ids, g, variants, faces, verts, tris, cov, meta)


def _genotype_phase(args: argparse.Namespace) -> dict:
    """Write or read the genotype file alone (no faces, no cache)."""
    from genoface.io.genotypes import read_genotypes, write_plink, write_vcf

    path = args.dir / ("genotypes.vcf.gz" if args.format == "vcf" else "genotypes.bed")
    if args.phase == "gwrite":
        cohort = _make_cohort(args.n, args.m, 16)  # faces unused
        males = cohort.covariates["sex"].to_numpy() == "M"
        args.dir.mkdir(parents=True, exist_ok=True)
        t0, c0 = time.perf_counter(), time.process_time()
        if args.format == "vcf":
            write_vcf(path, cohort.sample_ids, cohort.genotypes, cohort.variants, haploid=males)
        else:
            write_plink(path.with_suffix(""), cohort.sample_ids, cohort.genotypes, cohort.variants)
        return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    t0, c0 = time.perf_counter(), time.process_time()
    data = read_genotypes(path)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "checksum": int(data.genotypes.sum(dtype=np.int64)),
    }


def _phase(args: argparse.Namespace) -> dict:
    """One measured phase, run in this (child) process."""
    from genoface.cohort import Cohort

    if args.phase in ("gwrite", "gread"):
        return _genotype_phase(args)

    if args.phase == "write":
        t0 = time.perf_counter()
        cohort = _make_cohort(args.n, args.m, args.vertices)
        made = time.perf_counter() - t0
        t0 = time.perf_counter()
        cohort.save(args.dir, genotype_format=args.format)
        return {"make_data_s": made, "seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    cohort = Cohort.load(args.dir)
    # Touch every page so a memory-mapped load is not measured as free.
    checksum = int(cohort.genotypes.sum(dtype=np.int64)) + float(cohort.faces[:, 0].sum())
    return {
        "seconds": time.perf_counter() - t0,
        "checksum": checksum,
        "memmap": isinstance(cohort.genotypes, np.memmap),
    }


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="people")
    ap.add_argument("--m", type=int, default=50_000, help="SNPs")
    ap.add_argument("--vertices", type=int, default=3448, help="vertices per face (divisible by 8)")
    ap.add_argument("--formats", default="vcf,bed", help="comma-separated genotype formats")
    ap.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temporary folder)")
    ap.add_argument("--genotypes-only", action="store_true", help="time the genotype file alone (write, read)")
    ap.add_argument("--phase", choices=["write", "load", "gwrite", "gread"], help=argparse.SUPPRESS)
    ap.add_argument("--format", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.phase:  # child
        out = _phase(args)
        out["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(out))
        return

    work = Path(tempfile.mkdtemp(prefix="bench_cohort_io-", dir=args.workdir))
    print(f"cohort of {args.n:,} people x {args.m:,} SNPs x {args.vertices:,} vertices in {work}")
    try:
        for fmt in args.formats.split(","):
            d = work / f"cohort_{fmt}"

            def run(phase: str) -> dict:
                cmd = [sys.executable, __file__, "--phase", phase, "--format", fmt, "--dir", str(d),
                       "--n", str(args.n), "--m", str(args.m), "--vertices", str(args.vertices)]  # fmt: skip
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode:
                    sys.exit(f"{phase} ({fmt}) failed:\n{res.stderr}")
                return json.loads(res.stdout.strip().splitlines()[-1])

            if args.genotypes_only:
                w = run("gwrite")
                reads = [run("gread"), run("gread")]
                assert reads[0]["checksum"] == reads[1]["checksum"]
                sizes = {p.name: p.stat().st_size / 2**20 for p in d.iterdir()}
                write = (
                    f"write {w['seconds']:.2f} s ({w['cpu_seconds']:.2f} s CPU, peak RSS {w['peak_rss_mb']:,.0f} MB)"
                )
                read = ", ".join(f"{r['seconds']:.2f} s ({r['cpu_seconds']:.2f} s CPU)" for r in reads)
                print(f"{fmt:>4}: {write} | read {read} (peak RSS {reads[-1]['peak_rss_mb']:,.0f} MB)")
                print("      sizes (MB): " + ", ".join(f"{k} {v:,.2f}" for k, v in sorted(sizes.items())))
                shutil.rmtree(d)
                continue
            w = run("write")
            sizes = {p.name: _du_mb(p) if p.is_dir() else p.stat().st_size / 2**20 for p in d.iterdir()}
            first = run("load")
            second = run("load")
            assert second["memmap"] and second["checksum"] == first["checksum"]
            print(
                f"{fmt:>4}: make data {w['make_data_s']:.1f} s | write {w['seconds']:.1f} s (peak RSS {w['peak_rss_mb']:,.0f} MB) | "
                f"first load {first['seconds']:.1f} s (peak RSS {first['peak_rss_mb']:,.0f} MB) | "
                f"cached load {second['seconds']:.2f} s (peak RSS {second['peak_rss_mb']:,.0f} MB)"
            )
            print(
                "      sizes (MB): "
                + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(sizes.items()))
                + f", cache {_du_mb(d / '.genoface_cache'):,.0f}"
            )
            shutil.rmtree(d)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
