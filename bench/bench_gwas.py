"""Benchmark genoface's GWAS against plink2 run as an expert runs it.

    .venv/bin/python bench/bench_gwas.py                      # 2,000 and 10,000 people x 50,000 SNPs
    .venv/bin/python bench/bench_gwas.py --sizes 1000 --m 5000 # quick look

Random data of the right types: ALT dosages (allele frequencies uniform in 0.05-0.5) with 1%
missing calls, 60 phenotype columns (shape-PCA-like: decreasing variances, a few SNP effects) and
4 covariates. plink2 gets one ``--glm`` call over all 60 phenotypes with ``--threads`` equal to
the cores genoface may use (BLAS limited by threadpoolctl), on its own .pgen format (converted
from the bed beforehand, untimed, as an expert would). Writing the files is not timed. plink2's
time includes reading genotypes and writing its 60 result files; genoface is timed twice: on
genotypes already in memory, and including reading the PLINK bed (``read_genotypes``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _data(n: int, m: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.5, m)
    g = np.empty((n, m), dtype=np.int8)
    step = 5000
    for j0 in range(0, m, step):
        gb = rng.binomial(2, f[j0 : j0 + step], size=(n, len(f[j0 : j0 + step]))).astype(np.int8)
        gb[rng.random(gb.shape) < 0.01] = -1
        g[:, j0 : j0 + step] = gb
    cov = np.column_stack([rng.integers(0, 2, n), rng.uniform(18, 80, n), rng.normal(25, 4, n), rng.normal(size=n)])
    y = rng.normal(size=(n, k)) * np.sqrt(1.0 / np.arange(1, k + 1)) * 10
    causal = rng.choice(m, 20, replace=False)
    gc = np.where(g[:, causal] < 0, 0, g[:, causal]).astype(float)
    y[:, :5] += gc @ rng.normal(scale=0.5, size=(20, 5))
    y += cov[:, :2] @ rng.normal(scale=0.05, size=(2, k))
    return g, y, cov


def _write(tmp: Path, g, y, cov) -> None:
    from genoface.io.genotypes import write_plink

    n, m = g.shape
    samples = np.array([f"S{i}" for i in range(n)])
    ref = np.array(["A"] * m)
    variants = pd.DataFrame({"chrom": "1", "pos": np.arange(1, m + 1) * 100, "id": [f"rs{j}" for j in range(m)],
                             "ref": ref, "alt": "G"})  # fmt: skip
    write_plink(tmp / "x", samples, g, variants)
    for name, arr, prefix in (("p.txt", y, "PC"), ("c.txt", cov, "C")):
        df = pd.DataFrame(arr, columns=[f"{prefix}{i + 1}" for i in range(arr.shape[1])])
        df.insert(0, "IID", samples)
        df.insert(0, "#FID", samples)
        df.to_csv(tmp / name, sep="\t", index=False, float_format="%.17g")


def run(n: int, m: int, k: int, threads: int) -> dict:
    from threadpoolctl import threadpool_limits

    from genoface.genetics import gwas
    from genoface.io.genotypes import read_genotypes

    g, y, cov = _data(n, m, k)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _write(tmp, g, y, cov)
        subprocess.run(["plink2", "--bfile", str(tmp / "x"), "--make-pgen", "--threads", str(threads),
                        "--out", str(tmp / "x")], check=True, capture_output=True)  # fmt: skip
        cmd = ["plink2", "--pfile", str(tmp / "x"), "--pheno", str(tmp / "p.txt"), "--covar", str(tmp / "c.txt"),
               "--covar-variance-standardize", "--glm", "omit-ref", "hide-covar", "--threads", str(threads),
               "--memory", "8000", "--out", str(tmp / "y")]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        t_plink = time.perf_counter() - t0
        t_plink_stats = [pd.read_csv(tmp / f"y.PC{i + 1}.glm.linear", sep="\t", usecols=["T_STAT"])["T_STAT"].to_numpy()
                         for i in range(k)]  # fmt: skip
        with threadpool_limits(limits=threads):
            gwas(g[:, :2000], y, cov)  # warm up BLAS and imports
            t0 = time.perf_counter()
            r = gwas(g, y, cov)
            t_ours = time.perf_counter() - t0
            del g
            t0 = time.perf_counter()
            r2 = gwas(read_genotypes(tmp / "x.bed").genotypes, y, cov)
            t_ours_read = time.perf_counter() - t0
        assert np.array_equal(r.t, r2.t, equal_nan=True)
    t_pl = np.column_stack(t_plink_stats)
    rel = np.abs(r.t - t_pl) / np.maximum(np.abs(t_pl), 1e-300)
    return {"n": n, "m": m, "k": k, "plink2_s": t_plink, "genoface_s": t_ours, "genoface_read_s": t_ours_read, "speedup": t_plink / t_ours,
            "max_rel_diff_t": float(np.nanmax(rel)), "max_abs_diff_t": float(np.nanmax(np.abs(r.t - t_pl)))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,10000", help="people, comma-separated")
    ap.add_argument("--m", type=int, default=50_000, help="SNPs")
    ap.add_argument("--k", type=int, default=60, help="phenotype columns")
    ap.add_argument("--threads", type=int, default=2, help="cores for both plink2 and BLAS")
    args = ap.parse_args()
    if shutil.which("plink2") is None:
        raise SystemExit("plink2 is not on PATH; install it (Debian: apt-get install plink2)")
    for n in (int(s) for s in args.sizes.split(",")):
        res = run(n, args.m, args.k, args.threads)
        print(
            f"n={res['n']:>6} m={res['m']} k={res['k']} threads={args.threads}: plink2 {res['plink2_s']:.2f} s, "
            f"genoface {res['genoface_s']:.2f} s ({res['genoface_read_s']:.2f} s reading the bed too), "
            f"speed-up {res['speedup']:.2f}x ({res['plink2_s'] / res['genoface_read_s']:.2f}x with reading), "
            f"max rel diff t {res['max_rel_diff_t']:.2e} (max abs {res['max_abs_diff_t']:.2e})",
            flush=True,
        )


if __name__ == "__main__":
    main()
