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

from genoface.core.errors import GenofaceError
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


# ---- chromosome names, pseudo-autosomal regions, genome build -----------------------------------------


def _vcf_text(chroms: list[str], header: str = "") -> str:
    """A 3-sample VCF, one SNP per entry of ``chroms`` (missing ids), B and C are men (haploid on X)."""
    contigs = "".join(f"##contig=<ID={c}>\n" for c in dict.fromkeys(chroms))
    lines = []
    for j, c in enumerate(chroms):
        hap = c.upper().lstrip("CHR") in ("X", "23")
        calls = ["0/1", "1", "0"] if hap else ["0/1", "1/1", "./."]
        lines.append("\t".join([c, str(100 * (j + 1)), ".", "A", "G", ".", ".", ".", "GT", *calls]))
    head = "##fileformat=VCFv4.2\n" + header + contigs + HEADER[HEADER.index("##FORMAT") :]
    return head + "\n".join(lines) + "\n"


def test_chr_prefixed_vcf_reads_exactly_as_the_plain_one(tmp_path):
    plain, prefixed = tmp_path / "plain.vcf", tmp_path / "chr.vcf"
    plain.write_text(_vcf_text(["1", "1", "X", "Y", "MT"]))
    prefixed.write_text(_vcf_text(["chr1", "chr1", "chrX", "chrY", "chrM"]))
    a, b = read_genotypes(plain), read_genotypes(prefixed)
    assert list(b.variants["chrom"]) == ["1", "1", "X", "Y", "MT"]
    assert list(b.variants["id"]) == ["1:100", "1:200", "X:300", "Y:400", "MT:500"]  # ids from canonical names
    pd.testing.assert_frame_equal(a.variants, b.variants)
    np.testing.assert_array_equal(a.genotypes, b.genotypes)
    np.testing.assert_array_equal(b.genotypes[:, 2], [1, 2, 0])  # haploid men 0 / 2 on X


def test_plink_numeric_chromosome_codes_read_as_names(tmp_path):
    ids, g, variants, _ = _data(seed=20, n=6, m=12, n_x=0)
    names = ["1", "2", "X", "X", "Y", "XY", "XY", "MT", "MT", "1", "X", "MT"]
    codes = ["chr1", "02", "23", "chrX", "24", "25", "PAR", "26", "M", "1", "X", "chrM"]
    a = read_genotypes(write_plink(tmp_path / "names", ids, g, variants.assign(chrom=names)))
    b = read_genotypes(write_plink(tmp_path / "codes", ids, g, variants.assign(chrom=codes)))
    assert list(b.variants["chrom"]) == names
    pd.testing.assert_frame_equal(a.variants, b.variants)
    np.testing.assert_array_equal(a.genotypes, b.genotypes)


_PAR1_X = "##contig=<ID=chrX,length=156040895>\n"  # the length of X in GRCh38


def test_grch38_vcf_reads_par1_snp_as_xy_with_men_diploid(tmp_path, caplog):
    text = (
        HEADER.replace("##contig=<ID=1>\n##contig=<ID=X>\n", "##contig=<ID=chr1>\n" + _PAR1_X)
        + "chrX\t20000\trsPAR\tA\tG\t.\t.\t.\tGT\t0/1\t0/1\t1/1\n"  # PAR1 (GRCh38 10,001-2,781,479): men diploid
        + "chrX\t5000000\trsX\tA\tG\t.\t.\t.\tGT\t0/1\t1\t0\n"  # outside: hemizygous men
        + "chrX\t155800000\trsPAR2\tC\tT\t.\t.\t.\tGT\t0/0\t0/1\t./.\n"  # PAR2
    )
    path = tmp_path / "b38.vcf"
    path.write_text(text)
    got = read_genotypes(path)
    assert got.build == "GRCh38"
    assert list(got.variants["chrom"]) == ["XY", "X", "XY"]
    np.testing.assert_array_equal(got.genotypes, [[1, 1, 0], [1, 2, 1], [2, 0, -1]])
    assert got.take([2, 0]).build == "GRCh38"
    # Given GRCh37, 20,000 lies before PAR1 (60,001-2,699,520): X; and the header is overruled.
    with caplog.at_level(logging.WARNING, logger="genoface.io.genotypes"):
        b37 = read_genotypes(path, build="hg19")
    assert b37.build == "GRCh37" and list(b37.variants["chrom"]) == ["X", "X", "X"]
    assert "header says build GRCh38 but GRCh37 was given" in caplog.text
    # A header without a build: X stays X (a simulated X has no PARs).
    path.write_text(text.replace(_PAR1_X, "##contig=<ID=chrX>\n"))
    plain = read_genotypes(path)
    assert plain.build is None and list(plain.variants["chrom"]) == ["X", "X", "X"]


@pytest.mark.parametrize(
    ("line", "build"),
    [
        ("##reference=file:///refs/GRCh37/human_g1k_v37.fasta\n", "GRCh37"),
        ("##reference=hg38.fa\n", "GRCh38"),
        ("##assembly=b37\n", "GRCh37"),
        ("##contig=<ID=X,length=155270560,assembly=b37>\n", "GRCh37"),
        ("##reference=file:///refs/genome.fa\n", None),
    ],
)
def test_build_from_the_vcf_header(tmp_path, line, build):
    path = tmp_path / "h.vcf"
    path.write_text(_vcf_text(["1", "X"], header=line))
    assert read_genotypes(path).build == build


def test_plink_with_a_build_splits_par_and_unknown_builds_are_refused(tmp_path):
    ids, g, variants, _ = _data(seed=21, n=4, m=3, n_x=0)
    variants = variants.assign(chrom=["23", "23", "1"], pos=[70_000, 3_000_000, 70_000])
    bed = write_plink(tmp_path / "g", ids, g, variants)
    got = read_genotypes(bed, build="GRCh37")
    assert got.build == "GRCh37" and list(got.variants["chrom"]) == ["XY", "X", "1"]
    assert list(read_genotypes(bed).variants["chrom"]) == ["X", "X", "1"]
    with pytest.raises(GenofaceError, match=r"g\.bed: unknown genome build 'T2T'; give GRCh37"):
        read_genotypes(bed, build="T2T")


def test_men_are_written_haploid_on_x_only_not_on_xy(tmp_path):
    ids, g, variants, males = _data(seed=22, n=6, m=8, n_x=4)
    variants.loc[6:, "chrom"] = "XY"  # the last two: pseudo-autosomal, diploid in men
    g[np.ix_(males, [6, 7])] = 1
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    lines = [ln.rstrip("\n").split("\t") for ln in gzip.open(path, "rt") if not ln.startswith("#")]
    for ln in lines:
        men = [ln[9 + i] for i in np.flatnonzero(males)]
        assert all("/" in c for c in men) == (ln[0] != "X")
    _same(read_genotypes(path), ids, g, variants)


# ---- snps_only=False: indels and multi-allelic records (polygenic scores) ----------------------------


_MULTI = [
    "1\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0|1\t1/1",
    "1\t300\trs3\tC\tT,G,<DEL>\t.\t.\t.\tGT\t1/2\t0/2\t3/3",  # ALT 3 is symbolic: two rows, T and G
    "1\t400\t.\tCA\tC\t.\t.\t.\tGT\t0/0\t0/1\t./1",  # deletion
    "1\t500\trs5\tC\t<DEL>\t.\t.\t.\tGT\t0/0\t0/1\t1/1",  # symbolic only: skipped
    "1\t600\trs6\tG\t*,A\t.\t.\t.\tGT\t0/1\t2/2\t1/2",  # spanning deletion "*": one row, A
    "1\t700\trs7\tG\t.\t.\t.\t.\tGT\t0/0\t0/0\t0/0",  # no ALT: skipped
    "X\t800\trs8\tT\tC,TTA\t.\t.\t.\tGT\t1/2\t2\t1",  # haploid men: 0 / 2 copies of each ALT
]


def test_all_variants_split_multiallelic_records_into_biallelic_rows(tmp_path, caplog):
    path = tmp_path / "m.vcf"
    path.write_text(HEADER + "\n".join(_MULTI) + "\n")
    with caplog.at_level(logging.WARNING, logger="genoface.io.genotypes"):
        got = read_genotypes(path, snps_only=False)
    v = got.variants
    assert list(v["id"]) == ["rs1", "rs3", "rs3", "1:400", "rs6", "rs8", "rs8"]
    assert list(v["pos"]) == [100, 300, 300, 400, 600, 800, 800]
    assert list(v["ref"]) == ["A", "C", "C", "CA", "G", "T", "T"]
    assert list(v["alt"]) == ["G", "T", "G", "C", "A", "C", "TTA"]
    # Each row counts its own ALT; REF and the other ALT alleles count 0 (the 3/3 call has no T or G).
    np.testing.assert_array_equal(
        got.genotypes,
        [
            [0, 1, 1, 0, 0, 1, 1],
            [1, 0, 1, 1, 2, 0, 2],
            [2, 0, 0, -1, 1, 2, 0],
        ],
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped 2 records" in warnings[0] and "2 symbolic ALT alleles" in warnings[0]
    # The default keeps biallelic SNPs only, exactly as before.
    snps = read_genotypes(path)
    assert list(snps.variants["id"]) == ["rs1"]


@pytest.mark.parametrize("snps_only", [True, False])
def test_an_empty_line_among_records_is_skipped_not_a_crash(tmp_path, snps_only):
    # cyvcf2 gives an empty line as a record without alleles; reading its REF would crash.
    path = tmp_path / "e.vcf"
    path.write_text(HEADER + _MULTI[0] + "\n\n" + _MULTI[0].replace("100", "150") + "\n")
    assert list(read_genotypes(path, snps_only=snps_only).variants["pos"]) == [100, 150]


def test_all_variants_refuses_an_allele_index_beyond_the_alt_list(tmp_path):
    path = tmp_path / "bad.vcf"
    path.write_text(HEADER + _MULTI[0] + "\n" + "1\t300\trs3\tC\tT,G\t.\t.\t.\tGT\t1/2\t0/3\t0/0\n")
    with pytest.raises(GenofaceError, match=r"bad\.vcf: line 7 \(1:300\) has an allele index above 2"):
        read_genotypes(path, snps_only=False)


def test_all_variants_decode_in_chunks_like_one_pass(tmp_path, monkeypatch):
    import genoface.io.genotypes as gt

    rng = np.random.default_rng(23)
    records = []
    for j in range(70):
        k = int(rng.integers(1, 4))
        alts = ",".join(rng.choice(["G", "T", "GA", "<DEL>"], size=k, replace=False))
        calls = [f"{rng.integers(0, k + 1)}/{rng.integers(0, k + 1)}" for _ in range(3)]
        records.append(f"1\t{100 + j}\trs{j}\tC\t{alts}\t.\t.\t.\tGT\t" + "\t".join(calls))
    path = tmp_path / "r.vcf"
    path.write_text(HEADER + "\n".join(records) + "\n")
    whole = read_genotypes(path, snps_only=False)
    monkeypatch.setattr(gt, "_READ_CHUNK", 7)  # chunks that end inside a multi-allelic record
    chunked = read_genotypes(path, snps_only=False)
    np.testing.assert_array_equal(whole.genotypes, chunked.genotypes)
    pd.testing.assert_frame_equal(whole.variants, chunked.variants)
    # Against a plain per-call count.
    rows = []
    for rec in records:
        f = rec.split("\t")
        for a, alt in enumerate(f[4].split(","), start=1):
            if alt != "<DEL>":
                rows.append([sum(int(x) == a for x in c.split("/")) for c in f[9:]])
    np.testing.assert_array_equal(whole.genotypes, np.array(rows).T)


def test_plink_all_variants_keeps_indels(tmp_path):
    ids, g, variants, _ = _data(seed=24, n=5, m=6, n_x=0)
    variants.loc[[1, 4], "ref"] = ["CA", "G"]
    variants.loc[[1, 4], "alt"] = ["C", "GTT"]
    bed = write_plink(tmp_path / "g", ids, g, variants)
    _same(read_genotypes(bed, snps_only=False), ids, g, variants)
    assert read_genotypes(bed).n_variants == 4


# ---- BGZF and the index --------------------------------------------------------------------------------


def test_vcf_gz_is_bgzf_with_a_tabix_index(tmp_path):
    import pysam

    ids, g, variants, males = _data(seed=25, n=7, m=40, n_x=10)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants, haploid=males)
    head = path.read_bytes()[:18]
    assert head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"  # BGZF
    assert path.read_bytes().endswith(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))
    assert (tmp_path / "g.vcf.gz.tbi").is_file()
    with pysam.TabixFile(str(path)) as tbx:
        assert set(tbx.contigs) == {"1", "X"}
        got = [ln.split("\t")[2] for ln in tbx.fetch("X", 137 * 31 - 1, 137 * 35)]  # 0-based, half-open
    assert got == [f"rs{j + 11}" for j in range(30, 35)]
    _same(read_genotypes(path), ids, g, variants)


def test_index_agrees_with_htslibs_on_random_regions(tmp_path):
    """Our .tbi against the one htslib builds from the same file, on many random regions."""
    import pysam

    rng = np.random.default_rng(26)
    m = 3000
    chrom = np.repeat(["1", "2", "X"], [1500, 1000, 500])
    pos = np.concatenate([np.sort(rng.integers(1, 3_000_000, 1500)), np.sort(rng.integers(1, 90_000_000, 1000)),
                          np.sort(rng.integers(1, 400_000, 500))])  # fmt: skip
    ref = rng.choice(["A", "C", "GT", "T" * 40_000], p=[0.45, 0.45, 0.09, 0.01], size=m)  # some span windows
    variants = pd.DataFrame({"chrom": chrom, "pos": pos, "id": [f"v{j}" for j in range(m)], "ref": ref, "alt": "G"})
    g = rng.integers(0, 3, size=(4, m)).astype(np.int8)
    ours = write_vcf(tmp_path / "a.vcf.gz", ["A", "B", "C", "D"], g, variants)
    theirs = tmp_path / "b.vcf.gz"
    theirs.write_bytes(ours.read_bytes())
    pysam.tabix_index(str(theirs), preset="vcf", force=True, keep_original=True)
    with pysam.TabixFile(str(ours)) as a, pysam.TabixFile(str(theirs)) as b:
        for _ in range(400):
            c = str(rng.choice(["1", "2", "X"]))
            start = int(rng.integers(0, 100_000_000 if c == "2" else 3_100_000))
            stop = start + int(rng.choice([1, 300, 20_000, 2_000_000]))
            assert [r[:40] for r in a.fetch(c, start, stop)] == [r[:40] for r in b.fetch(c, start, stop)]


def test_unsorted_variants_are_written_without_an_index(tmp_path, caplog):
    ids, g, variants, _ = _data(seed=27, n=4, m=10, n_x=0)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants)
    assert (tmp_path / "g.vcf.gz.tbi").is_file()
    shuffled = variants.iloc[::-1].reset_index(drop=True)
    with caplog.at_level(logging.WARNING, logger="genoface.io.genotypes"):
        write_vcf(path, ids, g[:, ::-1].copy(), shuffled)
    assert "not sorted" in caplog.text
    assert not (tmp_path / "g.vcf.gz.tbi").exists()  # the stale index went with the old file
    _same(read_genotypes(path), ids, g[:, ::-1], shuffled)
    write_vcf(path, ids, g, variants, index=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.vcf.gz"]


def test_a_failed_write_keeps_the_old_file_and_its_index(tmp_path):
    ids, g, variants, _ = _data(seed=28, n=4, m=10, n_x=0)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = g.copy()
    bad[0, -1] = 5
    with pytest.raises(GenofaceError, match="genotype 5"):
        write_vcf(path, ids, bad, variants)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_positions_beyond_tbi_get_a_csi_index(tmp_path):
    import pysam

    ids, g, variants, _ = _data(seed=29, n=3, m=6, n_x=0)
    variants["pos"] = [5, 10, 600_000_000, 600_000_100, 700_000_000, 800_000_000]  # e.g. a long plant chromosome
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants)
    assert (tmp_path / "g.vcf.gz.csi").is_file() and not (tmp_path / "g.vcf.gz.tbi").exists()
    with pysam.TabixFile(str(path), index=str(tmp_path / "g.vcf.gz.csi")) as tbx:
        assert [ln.split("\t")[1] for ln in tbx.fetch("1", 600_000_050, 700_000_000)] == ["600000100", "700000000"]


def test_bgzf_blocks_and_the_index(tmp_path):
    """Many blocks, a chunk boundary inside a line, and an index that finds each line."""
    import pysam

    import genoface.io.genotypes as gt

    rng = np.random.default_rng(30)
    ids = np.array([f"S{i}" for i in range(300)])
    m = 700
    variants = pd.DataFrame({"chrom": "1", "pos": np.arange(1, m + 1) * 10, "id": [f"r{j}" for j in range(m)],
                             "ref": "A", "alt": "C"})  # fmt: skip
    g = rng.integers(-1, 3, size=(300, m)).astype(np.int8)
    old = gt._WRITE_BYTES
    try:
        gt._WRITE_BYTES = 100_000  # ~83 lines a chunk: chunks end inside BGZF blocks
        path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants)
    finally:
        gt._WRITE_BYTES = old
    assert len(gzip.open(path).read()) > 10 * 0xFF00  # over ten BGZF blocks
    _same(read_genotypes(path), ids, g, variants)
    with pysam.TabixFile(str(path)) as tbx:
        for j in rng.integers(0, m, 30):
            assert [ln.split("\t")[2] for ln in tbx.fetch("1", 10 * j + 9, 10 * j + 10)] == [f"r{j}"]


def test_bgzf_writer_any_write_sizes(tmp_path):
    """Writes of any size make the same stream, in blocks of 0xFF00 bytes as bgzip writes them."""
    from concurrent.futures import ThreadPoolExecutor

    import pysam

    from genoface.io import BgzfWriter

    rng = np.random.default_rng(31)
    data = rng.choice(list(b"ACGT\t\n"), size=300_000).astype(np.uint8).tobytes()
    cuts = np.sort(rng.integers(0, len(data), 40))
    with ThreadPoolExecutor(2) as pool, open(tmp_path / "x.gz", "wb") as raw:
        w = BgzfWriter(raw, pool)
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(data)], strict=True):
            w.write(data[a:b])
        w.close()
    assert gzip.open(tmp_path / "x.gz").read() == data
    raw = (tmp_path / "x.gz").read_bytes()
    first = int.from_bytes(raw[16:18], "little") + 1  # BSIZE: the block's length - 1
    assert int.from_bytes(raw[first - 4 : first], "little") == 0xFF00  # ISIZE of the first block
    with pysam.libcbgzf.BGZFile(str(tmp_path / "x.gz"), "rb") as f:
        f.seek(first << 16)  # the virtual offset of the second block's start
        assert f.read(50) == data[0xFF00 : 0xFF00 + 50]


def test_a_cohort_written_before_bgzf_still_loads(tmp_path, tiny_cohort):
    """Plain gzip genotypes.vcf.gz without an index (genoface before BGZF) reads as before."""
    from genoface.cohort import Cohort

    d = tiny_cohort.save(tmp_path / "c")
    assert (d / "genotypes.vcf.gz.tbi").is_file()
    text = gzip.open(d / "genotypes.vcf.gz").read()
    (d / "genotypes.vcf.gz").write_bytes(gzip.compress(text))
    (d / "genotypes.vcf.gz.tbi").unlink()
    loaded = Cohort.load(d, use_cache=False)
    np.testing.assert_array_equal(loaded.genotypes, tiny_cohort.genotypes)
    pd.testing.assert_frame_equal(loaded.variants, tiny_cohort.variants, check_dtype=False)


# ---- errors ---------------------------------------------------------------------------------------


def test_truncated_vcf_gz_is_an_error(tmp_path):
    ids, g, variants, _ = _data(seed=9, n=200, m=400, n_x=0)
    path = write_vcf(tmp_path / "g.vcf.gz", ids, g, variants)  # BGZF
    data = path.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenofaceError, match=r"cut\.vcf\.gz: the BGZF end-of-file marker is missing"):
        read_genotypes(cut)
    # Plain gzip (what genoface wrote before it wrote BGZF): htslib finds the stream cut short.
    plain = gzip.compress(write_vcf(tmp_path / "g.vcf", ids, g, variants).read_bytes())
    cut.write_bytes(plain[: len(plain) // 2])
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


def test_a_cohort_with_a_build_in_cohort_json_reads_par_snps_as_xy(tmp_path, tiny_cohort):
    import dataclasses

    from genoface.cohort import Cohort

    v = tiny_cohort.variants.copy()
    on_x = np.flatnonzero(v["chrom"] == "X")
    # Three X SNPs at 20-40 kb: in PAR1 of GRCh38 (from 10,001), before PAR1 of GRCh37 (60,001).
    v.loc[on_x, "pos"] = np.r_[20_000, 30_000, 40_000, np.arange(len(on_x) - 3) * 1000 + 5_000_000]
    # cohort.json names the build; a simulated cohort's X has no PARs, whatever it says.
    for build, simulated, n_par in (("GRCh38", False, 3), ("hg19", False, 0), ("GRCh38", True, 0)):
        meta = {**tiny_cohort.meta, "genome_build": build, "simulated": simulated}
        d = dataclasses.replace(tiny_cohort, variants=v, meta=meta).save(tmp_path / f"{build}-{simulated}")
        loaded = Cohort.load(d, use_cache=False)
        par = np.isin(np.arange(len(v)), on_x[:n_par])
        np.testing.assert_array_equal(loaded.variants["chrom"].to_numpy() == "XY", par)
        np.testing.assert_array_equal(loaded.genotypes, tiny_cohort.genotypes)
