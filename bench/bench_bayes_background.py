"""Benchmark `bayes`'s polygenic background beyond 10,000 people: the p x p route with its SNPs
capped (docs/bayes.md, "Beyond 10,000 people").

    .venv/bin/python bench/bench_bayes_background.py                        # both parts below
    .venv/bin/python bench/bench_bayes_background.py speed --n 20000 --snps 20000 --cap 5000
    .venv/bin/python bench/bench_bayes_background.py thinning

``speed``: a genotype store of N people x M SNPs (HWE genotypes drawn at random, no LD; written
block by block and not timed) is opened lazily, and the background is fitted as `bayes` fits it:
the ALT frequencies (a pass over the store), the SNPs thinned to the cap and read once into an
int8 matrix, the kernel (Z'Z, p x p), and three backfitting rounds of 30 components (the SNP
effects in the last). In a child process, so that its peak RSS is its own; BLAS gets --threads
threads. Default: 100,000 people x 20,000 SNPs, cap 10,000.

``thinning``: what the cap costs. A simulated cohort (`genoface simulate`, realistic preset, seed
2, 4,000 people, two 5 Mb contigs: about 36,000 background SNPs) gets three traits, polygenic on
every background SNP (h2 0.2, 0.5, 0.8); the background is fitted on 3,000 people with all SNPs
and with every k-th, and predicts the other 1,000. Printed: the SNPs kept, the route, the
heritabilities found and the correlation of the prediction with the true genetic values.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import run_json_child

WRITE = """
import sys
import numpy as np, pandas as pd
from genoface.io import write_genotype_store
n, m, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
freq = rng.uniform(0.05, 0.5, m).astype(np.float32)
half = m // 2
variants = pd.DataFrame({"chrom": ["1"] * half + ["2"] * (m - half),
                         "pos": np.concatenate([np.arange(1, half + 1), np.arange(1, m - half + 1)]) * 100,
                         "id": [f"s{j}" for j in range(m)], "ref": "A", "alt": "G"})
def blocks(step=256):
    for j0 in range(0, m, step):
        f = freq[j0 : j0 + step]
        g = (rng.random((n, len(f)), dtype=np.float32) < f).astype(np.int8)
        g += rng.random((n, len(f)), dtype=np.float32) < f
        yield j0, j0 + len(f), g
write_genotype_store(out, np.array([f"p{i}" for i in range(n)]), variants, blocks())
print("{}")
"""

SPEED = """
import json, resource, sys, time
import numpy as np
from genoface.genetics import alt_frequencies
from genoface.io import open_genotype_store
from genoface.models.bayes import Kernel, StandardizedSNPs, fit_background, thin_evenly
g, cap = open_genotype_store(sys.argv[1]).dosages, int(sys.argv[2])
t0, steps = time.perf_counter(), {}
def mark(name):
    steps[name] = {"s": time.perf_counter() - t0, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
freq = alt_frequencies(g)
mark("frequencies")
cols = thin_evenly(np.flatnonzero(np.minimum(freq, 1 - freq) >= 0.01), cap)
z = StandardizedSNPs(g, cols, freq[cols])
mark("read")
kernel = Kernel(z)
mark("kernel")
y = np.random.default_rng(1).standard_normal((g.shape[0], 30))
y -= y.mean(0)
for r in range(3):
    fit_background(kernel, y, snp_effects=r == 2)
mark("backfitting")
print(json.dumps({"steps": steps, "snps": len(cols), "primal": kernel.primal, "fit_s": time.perf_counter() - t0}))
"""

THINNING = """
import sys, time
import numpy as np
from genoface.cohort import Cohort
from genoface.core.schema import non_autosomal
from genoface.genetics import alt_frequencies, standardize, take_columns
from genoface.models.bayes import Kernel, StandardizedSNPs, fit_background, thin_evenly
c = Cohort.load(sys.argv[1])
g, n_train = c.genotypes, int(sys.argv[2])
freq = alt_frequencies(g)
cols = np.flatnonzero(~non_autosomal(c.variants["chrom"]) & (np.minimum(freq, 1 - freq) >= 0.01))
rng, h2 = np.random.default_rng(0), np.array([0.2, 0.5, 0.8])
genetic = np.zeros((len(g), 3))
for j0 in range(0, len(cols), 2000):
    z = standardize(take_columns(g, cols[j0 : j0 + 2000]), freq[cols[j0 : j0 + 2000]]).astype(np.float64)
    genetic += z @ (rng.standard_normal((z.shape[1], 3)) * np.sqrt(h2 / len(cols)))
y = genetic + rng.standard_normal((len(g), 3)) * np.sqrt(1 - h2)
train, test = slice(0, n_train), slice(n_train, None)
print(f"{len(g):,} people ({n_train:,} trained), {len(cols):,} background SNPs; traits of h2 {h2}")
for cap in (len(cols), 8000, 4000, 2000, 1000):
    use = thin_evenly(cols, cap)
    t = time.perf_counter()
    z = StandardizedSNPs(g[train], use, freq[use])
    kernel = Kernel(z)
    bg = fit_background(kernel, y[train] - y[train].mean(0))
    pred = (standardize(take_columns(g[test], use), freq[use]) - z.centre).astype(np.float64) @ bg.coef
    r = [np.corrcoef(pred[:, i], genetic[test, i])[0, 1] for i in range(3)]
    route = "p x p" if kernel.primal else "n x n"
    print(f"{len(use):>7,} SNPs ({route}, {time.perf_counter() - t:4.1f} s): h2 {np.round(bg.h2, 3)}, "
          f"r(prediction, genetic value) held out {np.round(r, 3)}", flush=True)
"""


def speed(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "g.zarr")
        print(f"writing a store of {args.n:,} people x {args.snps:,} SNPs (not timed)", flush=True)
        run_json_child(WRITE, str(args.n), str(args.snps), store)
        r = run_json_child(SPEED, store, str(args.cap))
    route = "p x p" if r["primal"] else "n x n"
    print(
        f"background of {args.n:,} people on {r['snps']:,} SNPs (cap {args.cap:,}, {route} route), {args.threads} cores:"
    )
    for name, step in r["steps"].items():
        print(f"  {name:<12} done at {step['s']:6.0f} s, peak so far {step['peak_gb']:.2f} GB")
    print(f"  total {r['fit_s']:.0f} s, child peak {r['peak_gb']:.2f} GB")


def thinning(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "sim"
        cmd = [sys.executable, "-m", "genoface", "simulate", "--n", "4000", "--seed", "2", "--out", str(cohort)]
        cmd += ["--contigs", "2", "--contig-length", "5000000", "--genotype-format", "bed"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-c", THINNING, str(cohort), "3000"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", nargs="?", choices=("speed", "thinning", "both"), default="both")
    ap.add_argument("--n", type=int, default=100_000, help="people in the store (speed)")
    ap.add_argument("--snps", type=int, default=20_000, help="SNPs in the store (speed)")
    ap.add_argument("--cap", type=int, default=10_000, help="max_background_snps (speed)")
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if args.part in ("speed", "both"):
        speed(args)
    if args.part in ("thinning", "both"):
        thinning(args)


if __name__ == "__main__":
    main()
