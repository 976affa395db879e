"""Benchmark genome simulation: wall time, peak memory and SNPs kept.

    .venv/bin/python bench/bench_genomes.py                         # 1,000 people, default layout
    .venv/bin/python bench/bench_genomes.py --n 10000 --contigs 3 --length 5000000
    .venv/bin/python bench/bench_genomes.py --n 9674 --populations CHB --contigs 6 --length 5000000

People are split evenly over ``--populations`` (default YRI,CEU,CHB), half of them men.
Peak RSS is that of this whole process (Python, imports and all), from resource.getrusage.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time

import numpy as np

from genoface.simulate import GenomeLayout, simulate_genomes


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main(argv: list[str] | None = None) -> None:
    default = GenomeLayout()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="number of people")
    ap.add_argument("--populations", default="YRI,CEU,CHB", help="comma-separated model populations")
    ap.add_argument("--contigs", type=int, default=len(default.contig_lengths), help="autosomal contigs")
    ap.add_argument("--length", type=int, default=default.contig_lengths[0], help="bp per autosomal contig")
    ap.add_argument("--x-length", type=int, default=default.x_length, help="bp of X (0 = none)")
    ap.add_argument("--maf", type=float, default=default.maf)
    ap.add_argument("--model", default=default.demographic_model)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true", help="log per-contig progress")
    args = ap.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f ms %(message)s")
        logging.getLogger("msprime").setLevel(logging.WARNING)

    names = args.populations.split(",")
    counts = [args.n // len(names) + (i < args.n % len(names)) for i in range(len(names))]
    populations = dict(zip(names, counts, strict=True))
    is_male = np.random.default_rng(args.seed).random(args.n) < 0.5
    layout = GenomeLayout(
        contig_lengths=(args.length,) * args.contigs,
        x_length=args.x_length,
        maf=args.maf,
        demographic_model=args.model,
    )
    rss_before = _peak_rss_mb()
    t0 = time.perf_counter()
    genomes = simulate_genomes(populations, is_male, layout, seed=args.seed)
    elapsed = time.perf_counter() - t0
    n_x = int((genomes.variants["chrom"] == "X").sum())
    print(f"people          {args.n} {populations}")
    m = genomes.genotypes.shape[1]
    print(f"layout          {args.contigs} x {args.length:,} bp + X {args.x_length:,} bp", end="")
    print(f", maf {args.maf}, {args.model}")
    print(f"SNPs kept       {m:,} ({m - n_x:,} autosomal, {n_x:,} on X)")
    print(f"genotype matrix {genomes.genotypes.nbytes / 2**20:,.0f} MiB int8")
    print(f"time            {elapsed:.1f} s")
    print(f"peak RSS        {_peak_rss_mb():,.0f} MiB (after imports: {rss_before:,.0f} MiB)")


if __name__ == "__main__":
    main()
