"""What genoface writes, read by the standard tools: bcftools (BGZF, the tabix index, regions)
and plink2 (VCF import, PLINK 1 filesets, allele frequencies). Skipped where a tool is absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.io.genotypes import read_genotypes, write_plink, write_vcf

BCFTOOLS = shutil.which("bcftools")
PLINK2 = shutil.which("plink2")
needs_bcftools = pytest.mark.skipif(BCFTOOLS is None, reason="bcftools not installed (apt-get install bcftools)")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (apt-get install plink2)")


def _cohort(seed: int = 0, n: int = 40):
    """Sorted variants on 1, 2, X and XY with SNPs, indels and long deletions; men (odd i)
    hemizygous 0/2 on X, diploid on XY; 5% missing calls."""
    rng = np.random.default_rng(seed)
    sizes = {"1": 300, "2": 200, "X": 120, "XY": 30}
    chrom = np.repeat(list(sizes), list(sizes.values()))
    pos = np.concatenate([np.sort(rng.choice(np.arange(1, 2_000_000), k, replace=False)) for k in sizes.values()])
    m = len(chrom)
    ref = rng.choice(["A", "C", "G", "T", "CA", "G" * 30_000], p=[0.22, 0.22, 0.22, 0.22, 0.1, 0.02], size=m)
    alt = np.where(pd.Series(ref).str.len().to_numpy() > 1, ref.astype("<U1"), rng.choice(["A", "C", "G", "T"], m))
    same = alt == ref
    alt[same] = np.where(ref[same] == "A", "C", "A")
    ids = [f"rs{100 + j}" for j in range(m)]
    variants = pd.DataFrame({"chrom": chrom, "pos": pos, "id": ids, "ref": ref, "alt": alt})
    g = rng.integers(0, 3, size=(n, m)).astype(np.int8)
    males = np.arange(n) % 2 == 1
    on_x = np.flatnonzero(chrom == "X")
    g[np.ix_(males, on_x)] = 2 * rng.integers(0, 2, size=(males.sum(), len(on_x)))
    g[rng.random((n, m)) < 0.05] = -1
    ids = np.array([f"P{i:03d}" for i in range(n)])
    return ids, g, variants, males


def _run(*args: str, cwd: Path) -> str:
    res = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{args[0]} failed:\n{res.stderr}\n{res.stdout}"
    return res.stdout


# ---- bcftools ------------------------------------------------------------------------------------------


@needs_bcftools
def test_bcftools_index_accepts_our_bgzf(tmp_path):
    ids, g, variants, males = _cohort(1)
    ours = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    # bcftools reads our .tbi: record counts per contig come from its pseudo-bins.
    stats = _run(BCFTOOLS, "index", "--stats", ours.name, cwd=tmp_path)
    assert [ln.split("\t") for ln in stats.splitlines()] == [
        [c, ".", str(k)] for c, k in variants["chrom"].value_counts(sort=False).items()
    ]
    assert _run(BCFTOOLS, "index", "--nrecords", ours.name, cwd=tmp_path).strip() == str(len(variants))
    # ... and indexes the file itself: plain gzip is refused with "not BGZF compressed".
    other = tmp_path / "copy"
    other.mkdir()
    shutil.copy(ours, other / "g.vcf.gz")
    _run(BCFTOOLS, "index", "g.vcf.gz", cwd=other)
    _run(BCFTOOLS, "index", "--tbi", "--force", "g.vcf.gz", cwd=other)
    assert (other / "g.vcf.gz.csi").is_file() and (other / "g.vcf.gz.tbi").is_file()


@needs_bcftools
@pytest.mark.parametrize(
    "region",
    ["1:1-2000000", "1:500000-700000", "2:1000-1001", "X:1-60000", "XY:100000-1500000", "1", "2:1999000-2000000"],
)
def test_bcftools_view_region_returns_exactly_the_overlapping_records(tmp_path, region):
    ids, g, variants, males = _cohort(2)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    chrom, _, span = region.partition(":")
    start, stop = (int(x) for x in span.split("-")) if span else (1, 1 << 29)
    end = variants["pos"] + variants["ref"].str.len() - 1  # a record overlaps when [pos, end] meets the region
    expected = variants[(variants["chrom"] == chrom) & (variants["pos"] <= stop) & (end >= start)]
    out = _run(BCFTOOLS, "view", "--no-header", "-r", region, path.name, cwd=tmp_path)
    got = [ln.split("\t", 3)[:3] for ln in out.splitlines()]
    assert got == [[c, str(p), i] for c, p, i in zip(expected["chrom"], expected["pos"], expected["id"], strict=True)]
    assert len(got) or region == "2:1000-1001"


# ---- plink2 --------------------------------------------------------------------------------------------


@needs_plink2
def test_plink2_imports_our_vcf_with_the_same_genotypes(tmp_path):
    ids, g, variants, males = _cohort(3)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    _run(PLINK2, "--vcf", path.name, "--make-bed", "--out", "p", "--threads", "1", cwd=tmp_path)
    got = read_genotypes(tmp_path / "p.bed", snps_only=False)
    np.testing.assert_array_equal(got.sample_ids, ids)
    np.testing.assert_array_equal(got.genotypes, g)  # haploid men: plink2 writes homozygous, 0 / 2
    pd.testing.assert_frame_equal(got.variants, variants, check_dtype=False)
    # Independently of bed-reader: plink2's own additive export, told to count ALT (which allele
    # it counts by default has changed between plink2 versions). Columns are "<id>_<counted>".
    variants[["id", "alt"]].to_csv(tmp_path / "alt.txt", sep="\t", header=False, index=False)
    _run(PLINK2, "--bfile", "p", "--export", "A", "--export-allele", "alt.txt", "--out", "p", "--threads", "1",
         cwd=tmp_path)  # fmt: skip
    raw = pd.read_csv(tmp_path / "p.raw", sep="\t")
    assert list(raw.columns[6:]) == [f"{i}_{a}" for i, a in zip(variants["id"], variants["alt"], strict=True)]
    np.testing.assert_array_equal(raw.iloc[:, 6:].fillna(-1).to_numpy(), g)


@needs_plink2
def test_plink2_frequencies_of_our_plink_fileset_match(tmp_path):
    ids, g, variants, males = _cohort(4)
    sex = np.where(males, "M", "F")
    write_plink(tmp_path / "g", ids, g, variants, sex=sex)
    _run(PLINK2, "--bfile", "g", "--freq", "--out", "f", "--threads", "1", cwd=tmp_path)
    freq = pd.read_csv(tmp_path / "f.afreq", sep="\t")
    assert list(freq["ID"]) == list(variants["id"])
    assert list(freq["ALT"]) == list(variants["alt"]) and list(freq["REF"]) == list(variants["ref"])
    # Allele counts as plink2 makes them: men carry one X (their 0 / 2 is 0 / 1 copy), two elsewhere.
    data = read_genotypes(tmp_path / "g.bed", snps_only=False)
    d = data.genotypes.astype(float)
    observed = d >= 0
    copies = np.where(males[:, None] & (data.variants["chrom"] == "X").to_numpy()[None], 1, 2)
    alt_count = np.where(observed, d / 2 * copies, 0).sum(axis=0)
    n_alleles = np.where(observed, copies, 0).sum(axis=0)
    np.testing.assert_array_equal(freq["OBS_CT"], n_alleles)
    np.testing.assert_allclose(freq["ALT_FREQS"], alt_count / n_alleles, rtol=1e-5)
