"""Benchmark `genoface simulate` end to end: wall time and peak memory, against the targets.

    .venv/bin/python bench/bench_simulate.py            # default cohort + 10,000 people x >= 50,000 SNPs
    .venv/bin/python bench/bench_simulate.py --quick    # default cohort only

Each case runs the real command line in a child process (imports, simulation, writing the
cohort directory) and reads the child's peak RSS from wait4(). Targets (issue 2): the default
cohort in under a minute; 10,000 people with at least 50,000 SNPs in under 10 minutes and
8 GB on 2 cores. A peer measured in the same run: decoding the same simulated genomes the
obvious way (tskit's genotype_matrix() on every site, then filtering), against genoface's
filter-first chunked decoder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENOFACE = [sys.executable, "-m", "genoface"]
CASES = {
    "default cohort (realistic, 600 people)": ([], 60.0, None),
    "10,000 people, 3 x 5 Mb + X": (["--n", "10000", "--contigs", "3", "--contig-length", "5000000"], 600.0, 8.0),
}


def run_case(args: list[str], workdir: Path) -> dict:
    out = workdir / "cohort"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*GENOFACE, "simulate", "--out", str(out), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    output = proc.stdout.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"simulate failed:\n{output}")
    meta = json.loads((out / "cohort.json").read_text())
    n_snps = sum(1 for line in _variant_lines(out))
    shutil.rmtree(out)
    return {"seconds": elapsed, "peak_gb": usage.ru_maxrss * 1024 / 1e9, "n": meta["n"], "snps": n_snps}


def _variant_lines(cohort: Path):
    bim = cohort / "genotypes.bim"
    if bim.exists():
        yield from bim.open()
        return
    import gzip

    with gzip.open(cohort / "genotypes.vcf.gz", "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                yield line


def decode_peer(n: int = 2000) -> dict:
    """genoface's decoder against genotype_matrix() on all sites, same tree sequences."""
    import numpy as np

    from genoface.simulate import GenomeLayout, simulate_genomes

    layout = GenomeLayout(contig_lengths=(2_000_000,) * 2, x_length=0, maf=0.01)
    pops = {"YRI": n // 3, "CEU": n // 3, "CHB": n - 2 * (n // 3)}
    is_male = np.zeros(n, dtype=bool)
    t = time.perf_counter()
    ours = simulate_genomes(pops, is_male, layout, seed=1)
    t_ours = time.perf_counter() - t

    import stdpopsim

    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model(layout.demographic_model)
    t = time.perf_counter()
    kept = 0
    for i, length in enumerate(layout.contig_lengths):
        contig = species.get_contig(length=length, mutation_rate=model.mutation_rate)
        ts = stdpopsim.get_engine("msprime").simulate(model, contig, pops, seed=100 + i)
        g = ts.genotype_matrix()  # every site, (sites, haplotypes)
        dos = g[:, 0::2] + g[:, 1::2]
        p = dos.mean(axis=1) / 2
        kept += int(((p >= 0.01) & (p <= 0.99)).sum())
    t_peer = time.perf_counter() - t
    return {"ours_s": t_ours, "peer_s": t_peer, "ours_snps": ours.genotypes.shape[1], "peer_snps": kept}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the default cohort")
    args = ap.parse_args()
    print(f"genoface simulate benchmark, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (extra, target_s, target_gb) in CASES.items():
            if args.quick and extra:
                continue
            r = run_case(extra, Path(tmp))
            verdict = (
                "OK" if r["seconds"] <= target_s and (target_gb is None or r["peak_gb"] <= target_gb) else "MISSED"
            )
            gb = f", target {target_gb:.0f} GB" if target_gb else ""
            print(
                f"{name}: {r['n']:,} people, {r['snps']:,} SNPs: {r['seconds']:.1f} s (target {target_s:.0f} s), "
                f"peak {r['peak_gb']:.2f} GB{gb}  [{verdict}]"
            )
    p = decode_peer()
    print(
        f"genome decoding, 2,000 people x 2 x 2 Mb: genoface {p['ours_s']:.1f} s ({p['ours_snps']:,} SNPs) vs "
        f"genotype_matrix() on all sites {p['peer_s']:.1f} s ({p['peer_snps']:,} SNPs): ratio {p['peer_s'] / p['ours_s']:.1f}x"
    )


if __name__ == "__main__":
    main()
