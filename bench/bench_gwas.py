"""Benchmark genoface's GWAS against plink2 run as an expert runs it, in two regimes.

    .venv/bin/python bench/bench_gwas.py                       # 2,000 and 10,000 people x 50,000 SNPs
    .venv/bin/python bench/bench_gwas.py --sizes 1000 --m 5000  # quick look
    .venv/bin/python bench/bench_gwas.py --regimes complete     # one regime only

Regimes: ``missing`` (1% of calls missing at random, so every SNP has its own sample set; plink2
then fits one phenotype at a time) and ``complete`` (no missing call, as imputed dosages or hard
calls after QC; plink2 batches the phenotypes and genoface takes its one-product path). Random
data of the right types: ALT dosages (allele frequencies uniform in 0.05-0.5), 60 phenotype
columns (shape-PCA-like: decreasing variances, a few SNP effects) and 4 covariates. plink2 gets
one ``--glm`` call over all 60 phenotypes with ``--threads`` equal to the cores genoface may use
(BLAS limited by threadpoolctl), on its own .pgen format (converted from the bed beforehand,
untimed, as an expert would). Writing the files is not timed. plink2's time includes reading
genotypes and writing its 60 result files; genoface is timed twice: on genotypes already in
memory, and including reading the PLINK bed (``read_genotypes``). Both are timed in the
same run, one after the other, on the same data. The figures are printed and written as JSON
(``--json``, by default bench/results/bench_gwas.json) so runs can be compared. Without plink2
on the PATH only genoface is timed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _child import environment

REGIMES = {"missing": 0.01, "complete": 0.0}  # fraction of calls missing
DEFAULT_JSON = Path(__file__).parent / "results" / "bench_gwas.json"


def _data(n: int, m: int, k: int, seed: int = 0, missing: float = 0.01):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.5, m)
    g = np.empty((n, m), dtype=np.int8)
    step = 5000
    for j0 in range(0, m, step):
        gb = rng.binomial(2, f[j0 : j0 + step], size=(n, len(f[j0 : j0 + step]))).astype(np.int8)
        gb[rng.random(gb.shape) < missing] = -1
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


def _plink2(tmp: Path, k: int, threads: int) -> tuple[float, np.ndarray]:
    """Seconds of one ``plink2 --glm`` over all phenotypes (the pgen made beforehand), and its t."""
    subprocess.run(["plink2", "--bfile", str(tmp / "x"), "--make-pgen", "--threads", str(threads),
                    "--out", str(tmp / "x")], check=True, capture_output=True)  # fmt: skip
    cmd = ["plink2", "--pfile", str(tmp / "x"), "--pheno", str(tmp / "p.txt"), "--covar", str(tmp / "c.txt"),
           "--covar-variance-standardize", "--glm", "omit-ref", "hide-covar", "--threads", str(threads),
           "--memory", "8000", "--out", str(tmp / "y")]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    t = [pd.read_csv(tmp / f"y.PC{i + 1}.glm.linear", sep="\t", usecols=["T_STAT"])["T_STAT"].to_numpy()
         for i in range(k)]  # fmt: skip
    return seconds, np.column_stack(t)


def run(n: int, m: int, k: int, threads: int, missing: float = 0.01, use_plink2: bool = True) -> dict:
    from threadpoolctl import threadpool_limits

    from genoface.genetics import gwas
    from genoface.io.genotypes import read_genotypes

    g, y, cov = _data(n, m, k, missing=missing)
    res: dict = {"n": n, "m": m, "k": k, "threads": threads, "missing": missing}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _write(tmp, g, y, cov)
        if use_plink2:
            res["plink2_s"], t_pl = _plink2(tmp, k, threads)
        with threadpool_limits(limits=threads):
            gwas(g[:, :2000], y, cov)  # warm up BLAS and imports
            t0 = time.perf_counter()
            r = gwas(g, y, cov)
            res["genoface_s"] = time.perf_counter() - t0
            del g
            t0 = time.perf_counter()
            r2 = gwas(read_genotypes(tmp / "x.bed").genotypes, y, cov)
            res["genoface_read_s"] = time.perf_counter() - t0
        assert np.array_equal(r.t, r2.t, equal_nan=True)
    if use_plink2:
        rel = np.abs(r.t - t_pl) / np.maximum(np.abs(t_pl), 1e-300)
        res["speedup"] = res["plink2_s"] / res["genoface_s"]  # > 1: genoface faster
        res["speedup_with_read"] = res["plink2_s"] / res["genoface_read_s"]
        res["max_rel_diff_t"] = float(np.nanmax(rel))
        res["max_abs_diff_t"] = float(np.nanmax(np.abs(r.t - t_pl)))
    return res


def _line(regime: str, res: dict) -> str:
    head = f"{regime:>8} n={res['n']:>6} m={res['m']} k={res['k']} threads={res['threads']}: "
    ours = f"genoface {res['genoface_s']:.2f} s ({res['genoface_read_s']:.2f} s reading the bed too)"
    if "plink2_s" not in res:
        return head + ours + ", plink2 not run"
    return (
        head + f"plink2 {res['plink2_s']:.2f} s, " + ours + f", plink2/genoface {res['speedup']:.2f}x "
        f"({res['speedup_with_read']:.2f}x with reading), max rel diff t {res['max_rel_diff_t']:.2e} "
        f"(max abs {res['max_abs_diff_t']:.2e})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,10000", help="people, comma-separated")
    ap.add_argument("--m", type=int, default=50_000, help="SNPs")
    ap.add_argument("--k", type=int, default=60, help="phenotype columns")
    ap.add_argument("--threads", type=int, default=2, help="cores for both plink2 and BLAS")
    ap.add_argument("--regimes", default=",".join(REGIMES), help=f"comma-separated, of {', '.join(REGIMES)}")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help="write the figures here (default: %(default)s)")
    args = ap.parse_args()
    regimes = args.regimes.split(",")
    if unknown := set(regimes) - set(REGIMES):
        ap.error(f"unknown regimes {sorted(unknown)}; choose from {', '.join(REGIMES)}")
    use_plink2 = shutil.which("plink2") is not None
    if not use_plink2:
        print("plink2 is not on PATH (Debian: apt-get install plink2): timing genoface only", flush=True)
    runs = []
    for n in (int(s) for s in args.sizes.split(",")):
        for regime in regimes:
            res = {"regime": regime, **run(n, args.m, args.k, args.threads, REGIMES[regime], use_plink2)}
            runs.append(res)
            print(_line(regime, res), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "environment": environment(), "runs": runs}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
