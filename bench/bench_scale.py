"""Benchmark the genotype passes out of core, from the chunked store, beside plink2 on the same bed.

    .venv/bin/python bench/bench_scale.py                            # 10,000 and 30,000 people x 20,000 SNPs
    .venv/bin/python bench/bench_scale.py --sizes 100000 --snps 100000   # the issue's biobank size
    .venv/bin/python bench/bench_scale.py --sizes 2000 --snps 5000    # a smoke run
    .venv/bin/python bench/bench_scale.py --simulated --sizes 100000 --snps 100000  # simulated faces too

With --simulated the cohort comes from `genoface simulate --format plink --faces-format npy
--out-of-core` (realistic preset, built-in face, 1 Mb contigs, as many as give about --snps SNPs;
past 22, 22 longer ones)
and that step is timed too (simulate + write, with its peak memory); the K phenotypes are then
the simulated faces' first K shape components (the faces projected on the shape model's
principal directions, read from faces.npy a block at a time).

For each size a PLINK bed of N people x M SNPs is written a slice at a time (Hardy-Weinberg
genotypes at uniform allele frequencies in [0.05, 0.5], no missing calls, 22 chromosomes; not
timed), with K phenotypes (standard normal, simulated; --phenotypes, default 30). Then each step
runs in its own child process, on --threads cores, so its peak RSS (from wait4) is its own:

- import: the bed into the Zarr store (`genoface import`'s path: PLINK read a slice at a time);
- qc: call rate, frequencies and HWE of every SNP (`variant_stats`) from the store;
- pca: `AncestryPCA(10)` from the store (LD pruning, then the randomized SVD, by blocks above
  1 GB of standardized genotypes);
- gwas: the K phenotypes on every SNP from the store (`gwas`);
- plink2: `plink2 --glm allow-no-covars` of the same K phenotypes on the bed, the peer, and
  `plink2 --pca 10 approx` (where plink2 is installed).

Printed: seconds and peak GB per step and size, the GWAS ratio genoface / plink2, and how the
peak memory of each step grows with N (flat in N means out of core). --json writes the figures to
bench/results/bench_scale.json.
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
from _child import environment, run_json_child

_STEP = r"""
import json, sys, time
import numpy as np
from genoface.io import open_genotype_store, open_plink, write_genotype_store
from genoface.io.genotype_store import store_chunks
from genoface.genetics import AncestryPCA, gwas, variant_stats
from genoface.genetics.engine import use_scheduler

step, work = sys.argv[1], sys.argv[2]
t = time.perf_counter()
with use_scheduler("threads"):
    if step == "import":
        plink = open_plink(f"{work}/g.bed")
        chunk = store_chunks(plink.n_samples, plink.n_variants)[0]
        write_genotype_store(f"{work}/g.zarr", plink.sample_ids, plink.variants, plink.blocks(chunk))
    else:
        store = open_genotype_store(f"{work}/g.zarr")
        if step == "qc":
            variant_stats(store.dosages)
        elif step == "pca":
            AncestryPCA(10).fit(store.dosages, store.variants)
        elif step == "gwas":
            gwas(store.dosages, np.load(f"{work}/pheno.npy"))
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def write_bed(work: Path, n: int, m: int, k: int, seed: int) -> None:
    """A bed of n x m HWE genotypes (allele 1 counted, no missing calls), .bim, .fam, and k
    phenotypes as .npy and as plink2's --pheno table; 2,000 SNPs at a time."""
    rng = np.random.default_rng(seed)
    code = np.array([3, 2, 0], dtype=np.uint8)  # dosage 0, 1, 2 of allele 1 -> bed's 2-bit codes
    pad = (-n) % 4
    with open(work / "g.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        for j0 in range(0, m, 2000):
            c = min(2000, m - j0)
            freq = rng.uniform(0.05, 0.5, c)
            dosage = rng.binomial(2, freq[:, None], (c, n))
            bits = np.pad(code[dosage], ((0, 0), (0, pad))).reshape(c, -1, 4)
            fh.write((bits[..., 0] | bits[..., 1] << 2 | bits[..., 2] << 4 | bits[..., 3] << 6).tobytes())
    chrom = 1 + np.arange(m) * 22 // m
    (work / "g.bim").write_text("".join(f"{c}\trs{j}\t0\t{1000 + 100 * j}\tA\tG\n" for j, c in enumerate(chrom)))
    (work / "g.fam").write_text("".join(f"s{i}\ts{i}\t0\t0\t0\t-9\n" for i in range(n)))
    pheno = rng.standard_normal((n, k))
    np.save(work / "pheno.npy", pheno)
    header = "#FID\tIID\t" + "\t".join(f"y{i}" for i in range(k))
    rows = (f"s{i}\ts{i}\t" + "\t".join(f"{v:.6f}" for v in pheno[i]) for i in range(n))
    (work / "pheno.tsv").write_text(header + "\n" + "\n".join(rows) + "\n")


_SIMULATE = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from genoface.simulate import get_preset, simulate
from genoface.shape import builtin_shape_model

n, contigs, length, k, seed = (int(a) for a in sys.argv[1:6])
out = Path(sys.argv[6])
t = time.perf_counter()
preset = get_preset("realistic").customized(contigs=contigs, contig_length=length)
result = simulate(preset, n=n, seed=seed, out=out / "cohort", genotype_format="bed", faces_format="npy", lazy=True)
seconds = time.perf_counter() - t
# the K phenotypes: the faces' shape components, from faces.npy a block at a time (plain reads)
shape = builtin_shape_model()
basis, mean = shape.basis[:, :k], shape.mean.ravel()
faces = np.load(out / "cohort" / "faces.npy", mmap_mode="r")
row = faces.shape[1] * 3
pheno = np.empty((n, k))
with open(out / "cohort" / "faces.npy", "rb") as fh:
    fh.seek(faces.offset)
    for i0 in range(0, n, 2048):
        block = np.fromfile(fh, dtype=np.float32, count=min(2048, n - i0) * row).reshape(-1, row)
        pheno[i0 : i0 + len(block)] = (block - mean) @ basis
np.save(out / "pheno.npy", pheno)
for suffix in ("bed", "bim", "fam"):
    (out / f"g.{suffix}").symlink_to(out / "cohort" / f"genotypes.{suffix}")
print(json.dumps({"seconds": seconds, "snps": result.cohort.n_variants}))
"""


def simulate_bed(work: Path, n: int, m: int, k: int, seed: int) -> dict:
    """`genoface simulate` of n people and about m SNPs (~3,600 common SNPs per Mb: 1 Mb contigs,
    longer past 22 of them, plus 1 Mb of X), timed in a child; its bed and k shape-component
    phenotypes go to ``work``."""
    mb = max(1.0, (m - 3_000) / 3_600)
    contigs = min(22, round(mb))  # autosomes 1-22: PLINK reads 23-26 as X, Y, XY and MT
    length = 10_000 * round(mb / contigs * 100)
    out = run_json_child(_SIMULATE, str(n), str(contigs), str(length), str(k), str(seed), str(work))
    ids = [line.split()[1] for line in (work / "g.fam").read_text().splitlines()]
    pheno = np.load(work / "pheno.npy")
    header = "#FID\tIID\t" + "\t".join(f"y{i}" for i in range(k))
    rows = (f"{s}\t{s}\t" + "\t".join(f"{v:.6f}" for v in pheno[i]) for i, s in enumerate(ids))
    (work / "pheno.tsv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return out


def run_plink2(work: Path, threads: int, args: list[str]) -> dict:
    t = time.perf_counter()
    cmd = ["plink2", "--bfile", str(work / "g"), "--threads", str(threads), "--out", str(work / "p"), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = __import__("os").wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"plink2 failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return {"seconds": time.perf_counter() - t, "peak_gb": usage.ru_maxrss * 1024 / 1e9}


def measure(n: int, m: int, k: int, threads: int, seed: int, simulated: bool, scratch: str | None, keep: bool,
            plink2_pca: bool = True) -> dict:  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=scratch))
    try:
        out: dict = {"n": n, "snps": m, "phenotypes": k, "simulated": simulated}
        if simulated:
            out["simulate"] = simulate_bed(work, n, m, k, seed)
            out["snps"] = m = out["simulate"]["snps"]
            print(
                f"  {n:>7} x {m}: simulate {out['simulate']['seconds']:7.1f} s  peak {out['simulate']['peak_gb']:.2f} GB"
            )
        else:
            # In a child, so this process stays small: a child forked from a large parent starts
            # with the parent's pages in its peak RSS.
            code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_scale as b; "
            code += f"b.write_bed(__import__('pathlib').Path({str(work)!r}), {n}, {m}, {k}, {seed})"
            subprocess.run([sys.executable, "-c", code], check=True)
        for step in ("import", "qc", "pca", "gwas"):
            out[step] = run_json_child(_STEP, step, str(work))
            print(f"  {n:>7} x {m}: {step:<7} {out[step]['seconds']:8.1f} s  peak {out[step]['peak_gb']:.2f} GB")
        if shutil.which("plink2"):
            glm = ["--glm", "allow-no-covars", "omit-ref", "--pheno", str(work / "pheno.tsv"), "--memory", "8000"]
            out["plink2_glm"] = run_plink2(work, threads, glm)
            if plink2_pca:
                out["plink2_pca"] = run_plink2(work, threads, ["--pca", "10", "approx"])
            for step in [s for s in ("plink2_glm", "plink2_pca") if s in out]:
                print(f"  {n:>7} x {m}: {step:<10} {out[step]['seconds']:5.1f} s  peak {out[step]['peak_gb']:.2f} GB")
        return out
    finally:
        if keep and simulated:
            print(f"  kept the simulated cohort: {work / 'cohort'} (remove {work} when done)")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,30000", help="people, comma-separated")
    parser.add_argument("--snps", type=int, default=20_000)
    parser.add_argument("--phenotypes", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simulated", action="store_true", help="genoface simulate the cohort (timed) instead")
    parser.add_argument("--scratch", default=None, help="folder for the work files (default: the temp dir)")
    parser.add_argument("--json", action="store_true", help="write bench/results/bench_scale[_simulated].json")
    parser.add_argument(
        "--keep", action="store_true", help="with --simulated: keep the cohort (for bench_bayes.py --cohort)"
    )
    parser.add_argument(
        "--no-plink2-pca",
        action="store_true",
        help="skip plink2 --pca (it took 207 s at 30,000 x 20,000 and grows with n x m); the GWAS peer still runs",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"genotype passes from the store, {args.snps} SNPs, {args.phenotypes} phenotypes, {args.threads} threads")
    runs = [
        measure(
            n,
            args.snps,
            args.phenotypes,
            args.threads,
            args.seed,
            args.simulated,
            args.scratch,
            args.keep,
            not args.no_plink2_pca,
        )  # fmt: skip
        for n in sizes
    ]
    for r in runs:
        if "plink2_glm" in r:
            print(f"  {r['n']:>7}: GWAS genoface / plink2 = {r['gwas']['seconds'] / r['plink2_glm']['seconds']:.2f}")
    if len(runs) > 1:
        for step in ("import", "qc", "pca", "gwas"):
            growth = runs[-1][step]["peak_gb"] / runs[0][step]["peak_gb"]
            print(f"  peak memory of {step} from {sizes[0]} to {sizes[-1]} people: x{growth:.2f}")
    if args.json:
        path = Path(__file__).parent / "results" / f"bench_scale{'_simulated' if args.simulated else ''}.json"
        path.parent.mkdir(exist_ok=True)
        report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "environment": environment()}
        path.write_text(json.dumps(report | {"threads": args.threads, "runs": runs}, indent=1) + "\n")
        print(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
