"""Consumer raw-data files as companies write them: every fixture of ../shared/data/consumer_formats
(from the ``snps`` package's test suite) is read, with hand-checked calls, or refused with a
one-line error that names the file and says what it is; also through .gz and .zip, and told
apart from VCFs by :func:`is_consumer_file` whatever their names."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import detect_format, is_consumer_file, match_to_panel, read_consumer_file

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "consumer_formats"
pytestmark = pytest.mark.skipif(
    not FOLDER.is_dir(), reason="needs ../shared/data/consumer_formats (the snps package's raw-data fixtures)"
)

# The README's hand-checked calls: rs1..rs8 on chromosome 1 at 101..108.
STANDARD = {
    "rs1": "1:101:AA",
    "rs2": "1:102:CC",
    "rs3": "1:103:GG",
    "rs4": "1:104:TT",
    "rs5": "1:105:",  # no-call
    "rs6": "1:106:GC",
    "rs7": "1:107:TC",
    "rs8": "1:108:AT",
}
# GSA-style names ("1:101") where the company writes no rsID.
GSA = {f"1:{100 + i}": v for i, v in enumerate(STANDARD.values(), start=1)}

#: file -> (source detected, expected calls: id -> "chrom:pos:alleles").
READ = {
    "23andme.txt": ("23andme", STANDARD | {"rs9": ":109:AT", "rs10": ":0:AT"}),  # chromosome / position "--"
    "23andme_allele.txt": ("23andme", STANDARD),
    "23andme_win.txt": ("23andme", STANDARD | {"rs9": ":109:AT", "rs10": ":0:AT"}),
    "23mofang.txt": ("23mofang", STANDARD),
    "DNALand.txt": ("dnaland", STANDARD),
    "ancestry.txt": ("ancestrydna", STANDARD),
    "ancestry_multi_sep.txt": ("ancestrydna", STANDARD),
    "ancestry_mt.txt": ("ancestrydna", {"rs1": "MT:101:AA", "rs2": "MT:102:", "rs3": "MT:103:GC"}),
    "ftdna.csv": ("ftdna", STANDARD),
    "ftdna_famfinder.csv": ("famfinder", STANDARD),
    "myheritage.csv": ("myheritage", STANDARD),
    "myheritage_extra_quotes.csv": ("myheritage", STANDARD),
    "livingdna.csv": ("livingdna", STANDARD),  # tab-separated despite its name
    "genesforgood.txt": ("genesforgood", STANDARD),
    "selfdecode.txt": ("selfdecode", STANDARD),
    "mapmygenome.txt": ("mapmygenome", STANDARD),
    "mapmygenome_alt_header.txt": ("mapmygenome", STANDARD),
    "mapmygenome_new_format.txt": ("mapmygenome", STANDARD),
    "plink.txt": ("plink23", STANDARD),
    "sano_dtc.txt": ("sano", STANDARD),
    "sano_dtc_no_comments.txt": ("sano", STANDARD),
    "generic.csv": ("generic", STANDARD),
    "generic.tsv": ("generic", STANDARD),
    "generic_extra_column.tsv": ("generic", STANDARD),
    "generic_header_comment.tsv": ("generic", STANDARD),
    "generic_no_header.tsv": ("generic", STANDARD),
    "generic_non_standard_columns.tsv": ("generic", STANDARD),
    "generic_multi_rsid.tsv": ("generic", STANDARD | {"rs9": "1:106:GC"}),  # "rs6,rs9": both ids
    "tellmeGen.txt": ("tellmegen", GSA),
    # Illumina GSA report without Chr/Position: the place read from "1:101"; rs6..rs8 unplaced.
    "codigo46.txt": (
        "codigo46",
        {**{k: v for k, v in GSA.items() if k < "1:106"}, "rs6": ":0:GC", "rs7": ":0:TC", "rs8": ":0:AT"},
    ),
    # Illumina "Forward" alleles: rs7 A/G, rs8 T/A are T/C, A/T on the + strand (the matcher resolves rs7).
    "sano.txt": (
        "sano",
        {**{k: v for k, v in GSA.items() if k < "1:106"}, "rs6": "1:106:GC", "rs7": "1:107:AG", "rs8": "1:108:TA"},
    ),
    # Whole-exome calls: only called sites, "A/A" genotypes, internal ids kept.
    "circledna.txt": (
        "circledna",
        {k: v for k, v in STANDARD.items() if k != "rs5"} | {"chr1:1:A": "1:1:AA", "chr1:1001:A": "1:1001:AA"},
    ),
    "GRCh37.csv": (
        "generic",
        {
            "rs3094315": "1:752566:AA",
            "rs2500347": "1:144938320:",
            "rsIndelTest": "1:144938321:ID",
            "rs11928389": "3:50927009:TC",
        },
    ),
    "GRCh38.csv": (
        "generic",
        {"rs3094315": "1:817186:AA", "rsIndelTest": "1:148946168:ID", "rs2500347": "1:148946169:"},
    ),
    "NCBI36.csv": ("generic", {"rs3094315": "1:742429:AA", "rs11928389": "3:50908372:AG"}),
    "GRCh37_PAR.csv": ("generic", {"rs28736870": "XY:220770:AA", "rs758419898": "XY:1:AA"}),  # "PAR"; position 1
    "chromosomes.csv": ("generic", {"snp1": "1:1:AA", "snp4": "5:1:TT", "snp5": "MT:1:A", "snp6": "XY:1:AA"}),
    "duplicate_rsids.csv": ("generic", {"rs1": "1:101:AA"}),  # all three lines kept, the first found first
}

#: file -> (what detect_format says, words the one-line error holds).
REFUSED = {
    "empty.txt": ("unknown", ["empty", "no format detected"]),
    "generic.fa": ("unknown", ["FASTA"]),
    "discrepant_snps.csv": ("unknown", ["line 1", "no format detected", "position_file1", "genotype"]),
    "testvcf.vcf": ("vcf", ["a VCF file", "VCF reader"]),
    "testvcf_chr_prefix.vcf": ("vcf", ["a VCF file"]),
    "testvcf_multi_sample.vcf": ("vcf", ["a VCF file"]),
    "testvcf_phased.vcf": ("vcf", ["a VCF file"]),
    "unannotated_testvcf.vcf": ("vcf", ["a VCF file"]),
}
NOT_FIXTURES = {"README.md", "LICENSE.BSD-3", "tests__init__.py"}


def _calls(c) -> dict[str, str]:
    """id -> "chrom:pos:alleles" (the first line of an id)."""
    out: dict[str, str] = {}
    for i, ch, p, x, y in zip(c.rsid, c.chrom, c.pos, c.allele1, c.allele2, strict=True):
        out.setdefault(str(i), f"{ch}:{p}:{x}{y}")
    return out


def test_every_fixture_is_covered():
    present = {p.name for p in FOLDER.iterdir()} - NOT_FIXTURES
    assert present <= set(READ) | set(REFUSED), sorted(present - set(READ) - set(REFUSED))


@pytest.mark.parametrize("name", sorted(READ))
def test_fixture_is_read(name):
    source, expected = READ[name]
    if not (FOLDER / name).exists():
        pytest.skip(f"{name} is not in {FOLDER}")
    c = read_consumer_file(FOLDER / name)
    assert c.source == source and detect_format(FOLDER / name) == source
    assert is_consumer_file(FOLDER / name)
    got = _calls(c)
    assert {k: got.get(k) for k in expected} == expected
    assert c.pos.dtype == np.int64 and len(c.rsid) == len(c.chrom) == len(c.allele1) == len(c.allele2)
    assert set(c.chrom) <= {*(str(i) for i in range(1, 23)), "X", "Y", "XY", "MT", ""}
    assert ((c.allele1 == "") <= (c.allele2 == "")).all()  # a no-call has no second allele either
    assert c.sample_id == name.split(".")[0] and c.path == str(FOLDER / name)


def test_fixture_counts():
    n = {
        name: read_consumer_file(FOLDER / name).n_calls
        for name in ("23andme.txt", "generic_multi_rsid.tsv", "circledna.txt", "duplicate_rsids.csv")
    }
    assert n == {"23andme.txt": 10, "generic_multi_rsid.tsv": 9, "circledna.txt": 9, "duplicate_rsids.csv": 3}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_fixture_is_refused_with_one_line(name):
    kind, words = REFUSED[name]
    with pytest.raises(GenofaceError) as err:
        read_consumer_file(FOLDER / name)
    msg = str(err.value)
    assert "\n" not in msg and str(FOLDER / name) in msg
    for w in words:
        assert w in msg, (w, msg)
    assert detect_format(FOLDER / name) == kind
    # VCFs go to the VCF reader; the rest to the consumer reader only where their name says so.
    assert is_consumer_file(FOLDER / name) == (kind == "unknown" and name.endswith((".txt", ".csv")))


def _gz(src: Path, dest: Path) -> Path:
    dest.write_bytes(gzip.compress(src.read_bytes(), mtime=0))
    return dest


def _zip(src: Path, dest: Path, *members: str) -> Path:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for m in members or (src.name,):
            z.writestr(m, src.read_bytes())
    return dest


@pytest.mark.parametrize(
    "name", ["23andme.txt", "ancestry.txt", "ftdna.csv", "myheritage_extra_quotes.csv", "codigo46.txt"]
)
def test_compressed_downloads_are_read(tmp_path, name):
    plain = read_consumer_file(FOLDER / name)
    for path in (
        _gz(FOLDER / name, tmp_path / f"{name}.gz"),
        _zip(FOLDER / name, tmp_path / "download.zip"),
        _gz(FOLDER / name, tmp_path / "no_suffix"),  # gzip without saying so
        _zip(FOLDER / name, tmp_path / "raw.csv"),  # a zip named .csv
    ):
        c = read_consumer_file(path)
        assert c.source == plain.source and is_consumer_file(path), path
        for attr in ("rsid", "chrom", "pos", "allele1", "allele2"):
            np.testing.assert_array_equal(getattr(c, attr), getattr(plain, attr))
    assert read_consumer_file(tmp_path / f"{name}.gz").sample_id == name.split(".")[0]


def test_concatenated_gzip_with_trailing_bytes(tmp_path):
    """FTDNA has shipped two gzip members (each with its header line) and extra bytes after them."""
    lines = (FOLDER / "ftdna.csv").read_bytes().splitlines(keepends=True)
    first, second = b"".join(lines[:5]), lines[0] + b"".join(lines[5:])
    path = tmp_path / "ftdna.csv.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second) + b"extra data")
    c = read_consumer_file(path)
    assert c.source == "ftdna" and _calls(c) == STANDARD


def test_zip_of_several_files_is_refused(tmp_path):
    path = _zip(FOLDER / "23andme.txt", tmp_path / "two.zip", "a.txt", "b.txt")
    with pytest.raises(GenofaceError, match=r"two\.zip: a zip archive of 2 files \(a\.txt, b\.txt\).*unzip"):
        read_consumer_file(path)


def test_vcf_is_not_a_consumer_file_whatever_its_name(tmp_path):
    vcf = FOLDER / "testvcf.vcf"
    as_txt = tmp_path / "genome.txt"
    shutil.copy(vcf, as_txt)
    as_gz = _gz(vcf, tmp_path / "genome.txt.gz")
    bcf = tmp_path / "genome.csv"
    bcf.write_bytes(gzip.compress(b"BCF\x02\x02" + b"\x00" * 64))  # BGZF-compressed BCF magic
    bed = tmp_path / "genome.tsv"
    bed.write_bytes(b"\x6c\x1b\x01" + b"\x00" * 8)
    for path, kind in ((as_txt, "vcf"), (as_gz, "vcf"), (bcf, "bcf"), (bed, "plink")):
        assert detect_format(path) == kind and not is_consumer_file(path), path
        with pytest.raises(GenofaceError, match=r"(VCF|BCF|PLINK)"):
            read_consumer_file(path)
    prefix = tmp_path / "cohort.txt"  # a PLINK set named by its prefix
    for ext in (".bed", ".bim", ".fam"):
        Path(f"{prefix}{ext}").write_bytes(b"\x6c\x1b\x01")
    assert not is_consumer_file(prefix)
    assert not is_consumer_file(tmp_path / "cohort.txt.bim")
    assert is_consumer_file(tmp_path / "missing.txt") and not is_consumer_file(tmp_path / "missing.vcf.gz")


def test_sano_forward_alleles_are_resolved_by_the_matcher():
    """Sano's "Forward" alleles: rs7 A/G is T/C on the + strand, read strand-flipped; rs6 G/C and
    rs8 T/A (palindromic) cannot be told and are dropped."""
    panel = pd.DataFrame(
        {
            "id": ["rs6", "rs7", "rs8"],
            "chrom": ["1"] * 3,
            "pos": [106, 107, 108],
            "ref": ["G", "T", "A"],
            "alt": ["C", "C", "T"],
        }
    )
    dosage, report = match_to_panel(read_consumer_file(FOLDER / "sano.txt"), panel)
    assert dosage.tolist() == [-1, 1, -1]
    assert report.n_strand_flipped == 1 and report.n_ambiguous_dropped == 2
    plus, report = match_to_panel(read_consumer_file(FOLDER / "sano_dtc.txt"), panel)  # + strand
    assert plus.tolist() == [-1, 1, -1] and report.n_strand_flipped == 0


def test_gsa_names_match_a_panel_by_position():
    panel = pd.DataFrame(
        {"id": ["rs1", "rs2"], "chrom": ["1", "1"], "pos": [101, 102], "ref": ["A", "A"], "alt": ["G", "C"]}
    )
    dosage, report = match_to_panel(read_consumer_file(FOLDER / "tellmeGen.txt"), panel)
    assert dosage.tolist() == [0, 2] and report.n_by_position == 2


@pytest.mark.parametrize("name", ["testvcf_chr_prefix.vcf", "testvcf_phased.vcf"])
def test_the_fixture_vcfs_go_through_the_vcf_reader(name):
    """The VCFs among the fixtures are refused as raw-data files but read by the VCF reader; the
    chr-prefixed and phased copies read as the plain one does."""
    from genoface.io import read_genotypes

    plain = read_genotypes(FOLDER / "testvcf.vcf")
    other = read_genotypes(FOLDER / name)
    pd.testing.assert_frame_equal(other.variants, plain.variants)
    np.testing.assert_array_equal(other.genotypes, plain.genotypes)
