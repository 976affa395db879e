"""Genotype file I/O: VCF / BCF / PLINK round trips, coding, errors, real data, bcftools."""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.errors import GenofaceError
from genoface.io.genotypes import GenotypeData, read_genotypes, write_plink, write_vcf

HAPGEN = Path(__file__).resolve().parents[2] / "shared/data/hapgen"
HAPGEN_VCF = HAPGEN / "hapgen_ceu_asn_chr10.vcf.gz"
needs_hapgen = pytest.mark.skipif(not HAPGEN_VCF.exists(), reason=f"real test data not found at {HAPGEN_VCF}")
needs_bcftools = pytest.mark.skipif(
    shutil.which("bcftools") is None, reason="bcftools not installed (make test installs it with apt where it can)"
)

HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1>\n##contig=<ID=X>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\n"
)


def _data(seed: int = 1, n: int = 9, m: int = 25, n_x: int = 6):
    """Random dosages with missing calls; the last n_x variants on X with males (odd i) 0/2."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=(n, m)).astype(np.int8)
    males = np.arange(n) % 2 == 1
    g[np.ix_(males, np.arange(m - n_x, m))] = 2 * rng.integers(0, 2, size=(males.sum(), n_x))
    g[rng.random((n, m)) < 0.1] = -1
    variants = pd.DataFrame(
        {
            "chrom": ["1"] * (m - n_x) + ["X"] * n_x,
            "pos": np.arange(1, m + 1) * 137,
            "id": [f"rs{j + 11}" for j in range(m)],
            "ref": rng.choice(list("AC"), size=m),
            "alt": rng.choice(list("GT"), size=m),
        }
    )
    return np.array([f"S{i}" for i in range(n)]), g, variants, males


def _same(a: GenotypeData, sample_ids, g, variants) -> None:
    np.testing.assert_array_equal(a.sample_ids, sample_ids)
    np.testing.assert_array_equal(a.genotypes, g)
    assert a.genotypes.dtype == np.int8 and a.genotypes.flags.c_contiguous
    pd.testing.assert_frame_equal(a.variants, pd.DataFrame(variants).reset_index(drop=True), check_dtype=False)
    assert list(a.variants.dtypes.astype(str)) == ["str", "int64", "str", "str", "str"]


# ---- round trips ---------------------------------------------------------------------------------


def test_vcf_round_trip_with_missing_calls_and_haploid_males(tmp_path):
    ids, g, variants, males = _data()
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    _same(read_genotypes(path), ids, g, variants)
    lines = [ln.split("\t") for ln in gzip.open(path, "rt") if not ln.startswith("#")]
    x_line = next(ln for ln in lines if ln[0] == "X")
    assert {x_line[9 + i].strip() for i in np.flatnonzero(males)} <= {"0", "1", "."}  # haploid calls
    assert all("/" in x_line[9 + i] for i in np.flatnonzero(~males))
    assert all(len(ln) == 9 + len(ids) for ln in lines)


def test_plain_vcf_round_trip(tmp_path):
    ids, g, variants, _ = _data(seed=2, n_x=0)
    path = write_vcf(tmp_path / "g.vcf", ids, g, variants)
    assert path.read_text().startswith("##fileformat=VCFv4.2\n##source=genoface\n")
    _same(read_genotypes(path), ids, g, variants)


def test_plink_round_trip_keeps_sex(tmp_path):
    ids, g, variants, males = _data(seed=3)
    sex = np.where(males, "M", "F")
    sex[0] = ""
    bed = write_plink(tmp_path / "g", ids, g, variants, sex=sex)
    assert bed == tmp_path / "g.bed"
    for path in (bed, tmp_path / "g"):  # the .bed or the bare prefix
        got = read_genotypes(path)
        _same(got, ids, g, variants)
        np.testing.assert_array_equal(got.sex, sex)


def test_vcf_and_plink_give_identical_data(tmp_path):
    ids, g, variants, males = _data(seed=4)
    a = read_genotypes(write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males))
    b = read_genotypes(write_plink(tmp_path / "g", ids, g, variants))
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    np.testing.assert_array_equal(a.genotypes, b.genotypes)
    pd.testing.assert_frame_equal(a.variants, b.variants)


def test_bcf_reads_like_vcf(tmp_path):
    import cyvcf2

    ids, g, variants, males = _data(seed=5)
    vcf = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    reader = cyvcf2.VCF(str(vcf))
    writer = cyvcf2.Writer(str(tmp_path / "g.bcf"), reader, mode="wb")
    for rec in reader:
        writer.write_record(rec)
    writer.close()
    reader.close()
    _same(read_genotypes(tmp_path / "g.bcf"), ids, g, variants)


def test_ids_kept_and_missing_ids_become_chrom_pos(tmp_path):
    ids, g, variants, _ = _data(seed=6, n_x=0)
    variants.loc[2, "id"] = "."
    got = read_genotypes(write_vcf(tmp_path / "g.vcf.gz", ids, g, variants))
    assert got.variants["id"].iloc[2] == f"1:{variants['pos'].iloc[2]}"
    assert got.variants["id"].iloc[0] == "rs11"


# ---- coding ---------------------------------------------------------------------------------------


def test_vcf_coding_haploid_half_missing_and_skipped_records(tmp_path, caplog):
    records = [
        "1\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0|1\t1/1",
        "1\t200\t.\tC\tT\t.\t.\t.\tGT\t./.\t./1\t1|0",  # half-missing ./1 is missing
        "1\t300\trs3\tC\tT,G\t.\t.\t.\tGT\t0/0\t0/2\t1/1",  # multi-allelic: skipped
        "1\t400\trs4\tCA\tT\t.\t.\t.\tGT\t0/0\t0/1\t1/1",  # indel: skipped
        "X\t500\trs5\tA\tG\t.\t.\t.\tGT\t0\t1\t0/1",  # haploid 0 / 1 -> 0 / 2
        "X\t600\trs6\tA\tG\t.\t.\t.\tGT\t.\t1\t1/1",
    ]
    path = tmp_path / "a.vcf"
    path.write_text(HEADER + "\n".join(records) + "\n")
    with caplog.at_level(logging.WARNING, logger="genoface.io.genotypes"):
        got = read_genotypes(path)
    np.testing.assert_array_equal(got.genotypes, [[0, -1, 0, -1], [1, -1, 2, 2], [2, 1, 1, 2]])
    assert list(got.variants["id"]) == ["rs1", "1:200", "rs5", "rs6"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 records" in warnings[0].getMessage()


def test_write_refuses_heterozygous_haploid_and_bad_codes(tmp_path):
    ids, g, variants, males = _data(seed=7)
    bad = g.copy()
    i = int(np.flatnonzero(males)[0])
    bad[i, -1] = 1
    with pytest.raises(GenofaceError, match=f"sample {ids[i]} is haploid.*heterozygous at {variants['id'].iloc[-1]}"):
        write_vcf(tmp_path / "g.vcf.gz", ids, bad, variants, haploid=males)
    bad = g.copy()
    bad[3, 4] = 3
    with pytest.raises(GenofaceError, match=f"genotype 3 for sample {ids[3]} at {variants['id'].iloc[4]}"):
        write_vcf(tmp_path / "g.vcf.gz", ids, bad, variants)
    with pytest.raises(GenofaceError, match="genotype 3"):
        write_plink(tmp_path / "g", ids, bad, variants)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_write_refuses_bad_sample_ids(tmp_path):
    ids, g, variants, _ = _data(seed=8)
    dup = ids.copy()
    dup[1] = dup[0]
    with pytest.raises(GenofaceError, match="duplicate sample ids S0"):
        write_vcf(tmp_path / "g.vcf.gz", dup, g, variants)
    space = ids.copy()
    space[2] = "a b"
    with pytest.raises(GenofaceError, match="whitespace"):
        write_vcf(tmp_path / "g.vcf.gz", space, g, variants)


# ---- errors ---------------------------------------------------------------------------------------


def test_truncated_vcf_gz_is_an_error(tmp_path):
    ids, g, variants, _ = _data(seed=9, n=200, m=400, n_x=0)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants)
    data = path.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenofaceError, match=r"cut\.vcf\.gz: cannot parse the record at line \d+"):
        read_genotypes(cut)


def test_truncated_bgzf_is_an_error_even_at_a_block_boundary(tmp_path):
    import cyvcf2

    ids, g, variants, _ = _data(seed=10, n=50, m=60, n_x=0)
    vcf = write_vcf(tmp_path / "g.vcf", ids, g, variants)
    reader = cyvcf2.VCF(str(vcf))
    writer = cyvcf2.Writer(str(tmp_path / "b.vcf.gz"), reader, mode="wz")  # BGZF via htslib
    for rec in reader:
        writer.write_record(rec)
    writer.close()
    reader.close()
    _same(read_genotypes(tmp_path / "b.vcf.gz"), ids, g, variants)
    data = (tmp_path / "b.vcf.gz").read_bytes()
    (tmp_path / "cut.vcf.gz").write_bytes(data[:-28])  # without the end-of-file block
    with pytest.raises(GenofaceError, match="end-of-file marker is missing"):
        read_genotypes(tmp_path / "cut.vcf.gz")


@pytest.mark.parametrize(
    "record",
    [
        "1\t250\trs9\tA\tG\t.\t.\t.\tGT\t0/0\t0/1",  # a sample column short
        "1\tabc\trs9\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t0/1",  # bad position
        "1\t250\trs9\tA\tG\t.\t.\t.\tGT\t0/0\tzz\t0/1",  # bad GT
    ],
)
def test_malformed_record_names_its_line(tmp_path, record):
    good = ["1\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1", "1\t200\trs2\tC\tT\t.\t.\t.\tGT\t0/0\t0/1\t1/1"]
    path = tmp_path / "bad.vcf"
    path.write_text(HEADER + "\n".join([*good, record, good[0]]) + "\n")
    with pytest.raises(GenofaceError, match=r"bad\.vcf: cannot parse the record at line 8 \(after 1:200\)"):
        read_genotypes(path)


def test_missing_files_and_bad_headers(tmp_path):
    ids, g, variants, _ = _data(seed=11)
    write_plink(tmp_path / "g", ids, g, variants)
    (tmp_path / "g.fam").unlink()
    with pytest.raises(GenofaceError, match=r"lacks g\.fam"):
        read_genotypes(tmp_path / "g.bed")
    with pytest.raises(GenofaceError, match="no such file"):
        read_genotypes(tmp_path / "nope.vcf.gz")
    (tmp_path / "junk.vcf").write_text("hello\n")
    with pytest.raises(GenofaceError, match=r"junk\.vcf: not a readable VCF"):
        read_genotypes(tmp_path / "junk.vcf")
    dup = tmp_path / "dup.vcf"
    dup.write_text(HEADER.replace("\tB\tC", "\tA\tC") + "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\n")
    with pytest.raises(GenofaceError, match=r"duplicate sample ids .*: A"):
        read_genotypes(dup)
    nosamples = tmp_path / "nos.vcf"
    nosamples.write_text(HEADER.split("\tFORMAT")[0] + "\n1\t5\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(GenofaceError, match="no sample columns"):
        read_genotypes(nosamples)
    novariants = tmp_path / "nov.vcf"
    novariants.write_text(HEADER)
    with pytest.raises(GenofaceError, match="no biallelic SNPs"):
        read_genotypes(novariants)


# ---- real data and an independent reader -----------------------------------------------------------


@pytest.fixture(scope="module")
def hapgen() -> GenotypeData:
    return read_genotypes(HAPGEN_VCF)


@needs_hapgen
def test_hapgen_real_data(hapgen):
    assert hapgen.genotypes.shape == (1000, 28501)
    assert hapgen.variants["id"].str.startswith("rs").all()
    assert (hapgen.variants["chrom"] == "10").all()
    assert hapgen.variants["pos"].is_monotonic_increasing
    assert 0.005 < (hapgen.genotypes == -1).mean() < 0.02
    assert set(np.unique(hapgen.genotypes)) == {-1, 0, 1, 2}
    pops = pd.read_csv(HAPGEN / "hapgen_ceu_asn_chr10.populations.tsv", sep="\t")
    assert set(pops["sample_id"]) == set(hapgen.sample_ids)


def _bcftools_dosages(path: Path) -> np.ndarray:
    """(n, m) dosages from `bcftools query`, decoded independently of cyvcf2."""
    out = subprocess.run(["bcftools", "query", "-f", "[%GT\t]\n", str(path)], capture_output=True, check=True).stdout
    lines = out.split(b"\n")[:-1]
    if len({len(line) for line in lines}) == 1 and len(lines[0]) % 4 == 0:
        # All calls diploid ("0/1\t"): decode as a byte matrix; allele characters at 0 and 2.
        cells = np.frombuffer(out, dtype=np.uint8).reshape(len(lines), -1)[:, :-1].reshape(len(lines), -1, 4)
        a, b = cells[..., 0], cells[..., 2]
        dosage = (a == ord("1")).astype(np.int8) + (b == ord("1"))
        dosage[(a == ord(".")) | (b == ord("."))] = -1
        return dosage.T
    code = {"0/0": 0, "0|0": 0, "0/1": 1, "1/0": 1, "0|1": 1, "1|0": 1, "1/1": 2, "1|1": 2, "0": 0, "1": 2}
    rows = [[code.get(c, -1) for c in line.rstrip("\t").split("\t")] for line in out.decode().splitlines()]
    return np.array(rows, dtype=np.int8).T


def _bcftools_variants(path: Path) -> pd.DataFrame:
    out = subprocess.run(
        ["bcftools", "query", "-f", "%CHROM\t%POS\t%ID\t%REF\t%ALT\n", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    return pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"]).astype({"pos": "int64"})


@needs_bcftools
def test_bcftools_reads_our_vcf_as_we_do(tmp_path):
    ids, g, variants, males = _data(seed=12, n=15, m=40, n_x=10)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    np.testing.assert_array_equal(_bcftools_dosages(path), g)
    pd.testing.assert_frame_equal(_bcftools_variants(path), variants, check_dtype=False)
    names = subprocess.run(["bcftools", "query", "-l", str(path)], capture_output=True, text=True, check=True).stdout
    assert names.split() == list(ids)


@needs_bcftools
@needs_hapgen
def test_bcftools_agrees_on_hapgen(hapgen):
    np.testing.assert_array_equal(_bcftools_dosages(HAPGEN_VCF), hapgen.genotypes)
    pd.testing.assert_frame_equal(_bcftools_variants(HAPGEN_VCF), hapgen.variants, check_dtype=False)
