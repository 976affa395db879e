"""genoface's polygenic scores against ``plink2 --score`` (what the PGS Catalog calculator runs).

On the calculator's own test data (``../shared/data/pgs``: PGS001229's chromosome 22 part and
2,504 synthetic people as VCF and as PLINK bed) and on a synthetic VCF with multi-allelic
records and indels. plink2 is given exactly the variants genoface scored (:func:`matched_variants`:
the genotype variant, named ``chrom:pos:ref:alt`` with ``--set-all-var-ids``, and the allele
genoface counted) and fills missing calls with its default mean imputation.

plink2 writes sums with 6 significant digits. The weights given to plink2 are scaled so that
every sum is below 1 in magnitude, and each genoface sum must lie within half a unit of the
last digit plink2 wrote (the most any correct sum can differ from what plink2 prints), and, for
the additive scores, within 1e-6.

Skipped, with the reason, where plink2 or the shared data is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.io import read_genotypes
from genoface.traits import matched_variants, read_scoring_file, score

PLINK2 = shutil.which("plink2") or "/usr/bin/plink2"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgs"
CINECA = DATA / "cineca_synthetic_subset"
N_PEOPLE = 2504

pytestmark = pytest.mark.skipif(not Path(PLINK2).exists(), reason="plink2 is not installed (/usr/bin/plink2)")
needs_data = pytest.mark.skipif(
    not (DATA / "PGS001229_22.txt").exists(), reason=f"{DATA} (the PGS Catalog calculator's test data) is absent"
)


def _plink2(*args: str, out: Path) -> Path:
    """Run plink2 (one thread, a small workspace); raise with its log on failure."""
    cmd = [PLINK2, "--threads", "1", "--memory", "1024", *args, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        log = Path(f"{out}.log")
        raise AssertionError(f"plink2 failed ({done.returncode}): {log.read_text() if log.exists() else done.stderr}")
    return out


def _pfile(tmp: Path, route: str) -> list[str]:
    """The cineca genotypes as a plink2 fileset whose variant ids are chrom:pos:REF:ALT."""
    src = ["--vcf", f"{CINECA}.vcf.gz"] if route == "vcf" else ["--bfile", str(CINECA)]
    out = _plink2(*src, "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000", "--make-pgen",
                  out=tmp / f"cineca_{route}")  # fmt: skip
    return ["--pfile", str(out)]


def _score_run(tmp: Path, geno: list[str], ids, alleles, weights, name: str, scale: float, modifier=()):
    """plink2's sums (unscaled) and half a unit of their last printed digit, per person."""
    table = pd.DataFrame({"ID": ids, "A1": alleles, "W": [repr(float(w) * float(scale)) for w in weights]})
    path = tmp / f"{name}.score"
    table.to_csv(path, sep="\t", index=False)
    out = _plink2(*geno, "--score", str(path), "header-read", "cols=+scoresums", *modifier, out=tmp / name)
    t = pd.read_csv(f"{out}.sscore", sep="\t", dtype={"W_SUM": str})
    printed = t["W_SUM"]
    value = printed.astype(float)
    # Half a unit of the last of the 6 significant digits plink2 writes.
    exponent = np.floor(np.log10(np.maximum(value.abs(), 1e-300)))
    half_unit = 0.5 * 10.0 ** (exponent - 5)
    iid = t["IID"] if "IID" in t else t["#IID"]
    return pd.Series(value.to_numpy() / scale, index=iid), pd.Series(half_unit.to_numpy() / scale, index=iid)


def plink2_sums(tmp: Path, geno: list[str], table: pd.DataFrame, expected_max: float, *, by="id"):
    """plink2 --score on the rows of :func:`matched_variants` scored: one run per effect type
    (additive; 'dominant'; 'recessive'; per-dosage weights as a constant plus a 'dominant' and a
    'recessive' run), summed. Returns (sums, bound on their printing error), per person."""
    used = table[table["status"] == "scored"]
    if by == "id":
        ids = used["target_id"].to_numpy()
    else:
        ids = (used["target_chrom"] + ":" + used["target_pos"].astype(str) + ":" + used["target_ref"] + ":"
               + used["target_alt"]).to_numpy()  # fmt: skip
    alleles = np.where(used["counted"] == "ALT", used["target_alt"], used["target_ref"])
    kinds = used["effect_type"].to_numpy()
    runs = []
    for kind, modifier in (("additive", ()), ("dominant", ("dominant",)), ("recessive", ("recessive",))):
        sel = kinds == kind
        if sel.any():
            runs.append((sel, used["weight"].to_numpy(), kind, modifier))
    constant = 0.0
    dosage = kinds == "dosage"
    if dosage.any():
        w0, w1, w2 = (used[f"dosage_{k}_weight"].to_numpy() for k in range(3))
        constant = float(w0[dosage].sum())
        runs.append((dosage, w1 - w0, "dosage_dominant", ("dominant",)))
        runs.append((dosage, w2 - w1, "dosage_recessive", ("recessive",)))
    total, bound = constant, 0.0
    scale = 0.999 / max(expected_max, 1e-12)  # the sums printed below 1: 6 digits after the point
    for sel, weights, name, modifier in runs:
        s, b = _score_run(tmp, geno, ids[sel], alleles[sel], weights[sel], name, scale, modifier)
        total, bound = total + s, bound + b
    return total, bound


def _check(ours: pd.Series, theirs: pd.Series, bound: pd.Series, *, atol: float | None = 1e-6) -> float:
    assert len(theirs) == len(ours)
    diff = (ours.reindex(theirs.index) - theirs).abs()
    assert not diff.isna().any()
    worst = (diff - bound).idxmax()
    message = f"{worst}: genoface {ours[worst]!r}, plink2 {theirs[worst]!r} +- {bound[worst]}"
    assert (diff <= bound + 1e-12).all(), message
    if atol is not None:
        assert diff.max() <= atol, diff.max()
    return float(diff.max())


# ---- PGS001229 (height, chromosome 22) on 2,504 people ------------------------------------------


@needs_data
@needs_data
@pytest.mark.parametrize("route", ["vcf", "bed"])
@pytest.mark.parametrize("ambiguous", ["drop", "keep"])
def test_pgs001229_equals_plink2(tmp_path, route, ambiguous):
    data = read_genotypes(f"{CINECA}.vcf.gz" if route == "vcf" else f"{CINECA}.bed", snps_only=False)
    scoring = read_scoring_file(DATA / "PGS001229_22.txt")
    scores, report = score(scoring, data, ambiguous=ambiguous)
    table = matched_variants(scoring, data, ambiguous=ambiguous)
    theirs, bound = plink2_sums(tmp_path, _pfile(tmp_path, route), table, scores["score"].abs().max(), by="pos")
    assert len(theirs) == N_PEOPLE
    _check(scores["score"], theirs, bound)
    # What genoface scored: the indels are in, A/T and C/G out by default (pgsc_calc's set).
    assert report["n_indels"] == 7 and report["n_missing_from_genotypes"] == 6
    if ambiguous == "drop":
        assert (report["n_matched"], report["n_ambiguous_dropped"], report["n_imputed_calls"]) == (782, 47, 42)
    else:
        assert (report["n_matched"], report["n_ambiguous_kept"], report["n_imputed_calls"]) == (829, 47, 96)


@needs_data
@pytest.mark.parametrize("ambiguous", ["drop", "keep"])
def test_traits_command_scores_what_the_library_scores(ambiguous):
    """``genoface traits --pgs`` reads the file with its indels and scores it as :func:`score`."""
    import json

    from typer.testing import CliRunner

    from genoface.cli import app

    args = ["traits", "--genotypes", f"{CINECA}.bed", "--pgs", str(DATA / "PGS001229_22.txt"), "--json"]
    result = CliRunner().invoke(app, [*args, "--pgs-ambiguous", ambiguous, "--trait", "PGS001229"])
    assert result.exit_code == 0, result.output
    got = {p["sample_id"]: p["pgs"]["PGS001229"]["score"] for p in json.loads(result.stdout)["people"]}
    expected, _ = score(read_scoring_file(DATA / "PGS001229_22.txt"), read_genotypes(CINECA, snps_only=False),
                        ambiguous=ambiguous)  # fmt: skip
    np.testing.assert_allclose(pd.Series(got)[expected.index].to_numpy(), expected["score"].to_numpy(), atol=1e-9)


@needs_data
def test_vcf_and_bed_routes_agree():
    scoring = read_scoring_file(DATA / "PGS001229_22.txt")
    a, _ = score(scoring, read_genotypes(f"{CINECA}.vcf.gz", snps_only=False))
    b, _ = score(scoring, read_genotypes(f"{CINECA}.bed", snps_only=False))
    # plink 1.9 wrote the VCF's sample names as FID_IID; the .fam has the IIDs.
    assert (a.index == b.index + "_" + b.index).all()
    np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=1e-12)


@needs_data
def test_default_variant_set_is_pgsc_calcs():
    """The scored set equals the PGS Catalog calculator's default, derived here independently:
    chrom:pos and both alleles fit the VCF record (as written or exchanged), A/T and C/G out."""
    scoring = read_scoring_file(DATA / "PGS001229_22.txt")
    data = read_genotypes(f"{CINECA}.vcf.gz", snps_only=False)
    table = matched_variants(scoring, data)
    scored = table[table.status == "scored"]
    ours = set(zip(scored["pos"], scored["effect_allele"], strict=True))
    v, d = scoring.variants, data.variants
    m = v.merge(d, on=["chrom", "pos"])
    as_written = (m.effect_allele == m.alt) & (m.other_allele == m.ref)
    fits = as_written | ((m.effect_allele == m.ref) & (m.other_allele == m.alt))
    complement = {"A": "T", "T": "A", "C": "G", "G": "C"}
    palindromic = m.ref.map(complement) == m.alt
    kept = m[fits & ~palindromic]
    theirs = set(zip(kept["pos"], kept["effect_allele"], strict=True))
    assert ours == theirs and len(ours) == 782


# ---- dominant, recessive and per-dosage weights --------------------------------------------------


def _flagged_copy(tmp: Path) -> Path:
    """PGS001229's chromosome 22 part with every third variant dominant and every third + 1
    recessive, the variants with missing calls among them (plink2's imputation of those)."""
    lines = (DATA / "scorefile_dominant_and_recessive.txt").read_text().splitlines()
    head, rows = lines[:3], [r.split("\t") for r in lines[3:]]
    with_missing = {"22550450": "TRUE\tFALSE", "44759519": "FALSE\tTRUE", "50184484": "TRUE\tFALSE"}
    out = [
        "\t".join(r[:5]) + "\t" + with_missing.get(r[1], ("FALSE\tFALSE", "TRUE\tFALSE", "FALSE\tTRUE")[k % 3])
        for k, r in enumerate(rows)
    ]
    path = tmp / "flagged.txt"
    path.write_text("\n".join(head + out) + "\n")
    return path


def _dosage_copy(tmp: Path) -> Path:
    """The same variants with random per-dosage weights (seeded)."""
    lines = (DATA / "scorefile_dominant_and_recessive.txt").read_text().splitlines()
    rng = np.random.default_rng(7)
    columns = ["chr_name", "chr_position", "effect_allele", "other_allele", *(f"dosage_{k}_weight" for k in range(3))]
    out = ["#pgs_name=synthetic_dosage", "#genome_build=GRCh37", "\t".join(columns)]
    for r in lines[3:]:
        out.append("\t".join(r.split("\t")[:4] + [repr(float(x)) for x in rng.normal(scale=0.02, size=3)]))
    path = tmp / "dosage.txt"
    path.write_text("\n".join(out) + "\n")
    return path


@needs_data
@pytest.mark.parametrize("route", ["vcf", "bed"])
@pytest.mark.parametrize("which", ["pgsc_calc_example", "every_third", "per_dosage"])
def test_effect_types_equal_plink2(tmp_path, route, which):
    path = {
        "pgsc_calc_example": lambda: DATA / "scorefile_dominant_and_recessive.txt",
        "every_third": lambda: _flagged_copy(tmp_path),
        "per_dosage": lambda: _dosage_copy(tmp_path),
    }[which]()
    data = read_genotypes(f"{CINECA}.vcf.gz" if route == "vcf" else f"{CINECA}.bed", snps_only=False)
    scoring = read_scoring_file(path)
    # "keep": the A/T and C/G SNPs too, one of which has missing calls
    scores, report = score(scoring, data, ambiguous="keep")
    table = matched_variants(scoring, data, ambiguous="keep")
    theirs, bound = plink2_sums(tmp_path, _pfile(tmp_path, route), table, scores["score"].abs().max(), by="pos")
    _check(scores["score"], theirs, bound, atol=None)  # several plink2 runs: their printing errors add up
    assert report["n_matched"] == 829 and report["n_imputed_calls"] == 96
    types = {"pgsc_calc_example": {"additive": 827, "dominant": 1, "recessive": 1},
             "every_third": {"additive": 274, "dominant": 277, "recessive": 278},
             "per_dosage": {"dosage": 829}}[which]  # fmt: skip
    assert report["effect_types"] == types


# ---- multi-allelic records and indels -----------------------------------------------------------

# (pos, id, REF, ALTs): a multi-allelic SNP, an insertion, a deletion + insertion at one site, an
# A/T SNP, a three-ALT SNP.
RECORDS = [(1000, "rs1", "G", ["A", "T"]), (2000, "rs2", "C", ["CT"]), (3000, "rs3", "AG", ["A", "AGG"]),
           (4000, "rs4", "A", ["T"]), (5000, "rs5", "C", ["G", "A", "T"])]  # fmt: skip
# (id, chrom, pos, effect, other, weight, is_dominant)
SCORE_ROWS = [
    ("rs1", "1", 1000, "G", "A", 0.3, False),  # REF of a multi-allelic record: 2 - copies of A and T
    ("rs1", "1", 1000, "T", "G", -0.7, False),  # its second ALT
    ("rs2", "1", 2000, "CT", "C", -0.2, False),  # an insertion
    ("rs3", "1", 3000, "AG", "AGG", 0.15, True),  # REF of a deletion / insertion site, dominant
    ("rs3", "1", 3000, "A", "AG", 0.5, False),  # the deletion
    ("rs4", "1", 4000, "A", "T", 1.0, False),  # A/T: dropped by default
    ("rs5", "1", 5000, "A", "C", 0.4, False),  # ALT 2 of 3
]


def _multiallelic_vcf(path: Path, n: int = 80, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    samples = "\t".join(f"p{k}" for k in range(n))
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=1,length=100000>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}"]  # fmt: skip
    for pos, rsid, ref, alts in RECORDS:
        freqs = rng.dirichlet(np.ones(len(alts) + 1) * 2)
        calls = []
        for _ in range(n):
            a, b = sorted(rng.choice(len(alts) + 1, size=2, p=freqs))
            calls.append("./." if rng.random() < 0.06 else f"{a}/{b}")
        lines.append(f"1\t{pos}\t{rsid}\t{ref}\t{','.join(alts)}\t.\t.\t.\tGT\t" + "\t".join(calls))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("ambiguous", ["drop", "keep"])
def test_multiallelic_and_indels_equal_plink2(tmp_path, ambiguous):
    vcf = tmp_path / "multi.vcf"
    _multiallelic_vcf(vcf)
    header = (
        "#pgs_id=PGS_MULTI\n"
        + "\t".join(
            ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "is_dominant"]
        )
        + "\n"
    )
    rows = "".join(f"{i}\t{c}\t{p}\t{e}\t{o}\t{w}\t{d}\n" for i, c, p, e, o, w, d in SCORE_ROWS)
    (tmp_path / "multi.txt").write_text(header + rows)
    scoring = read_scoring_file(tmp_path / "multi.txt")
    data = read_genotypes(vcf, snps_only=False)
    assert len(data.variants) == 9  # the multi-allelic records split into one row per ALT
    scores, report = score(scoring, data, ambiguous=ambiguous)
    table = matched_variants(scoring, data, ambiguous=ambiguous)
    assert table["multiallelic_ref"].tolist() == [True, False, False, True, False, False, False]
    assert report["n_matched"] == (6 if ambiguous == "drop" else 7) and report["n_indels"] == 3
    # plink2 reads the multi-allelic records as they are (no split) and counts the named allele.
    _plink2("--vcf", str(vcf), "--make-pgen", out=tmp_path / "multi")
    theirs, bound = plink2_sums(tmp_path, ["--pfile", str(tmp_path / "multi")], table, scores["score"].abs().max())
    _check(scores["score"], theirs, bound, atol=None)
    assert report["n_imputed_calls"] > 0


# ---- harmonized files ----------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("name", ["PGS000001_hmPOS_GRCh37.txt", "PGS000802_hmPOS_GRCh37.txt"])
def test_harmonized_scores_share_no_variant_with_cineca(tmp_path, name):
    """PGS000001 (3 variants on 22) and PGS000802 (none) share no variant with the chromosome 22
    genotypes, by rsID or by GRCh37 position: genoface refuses with a one-line message, and
    plink2, given their rsIDs, finds none either."""
    scoring = read_scoring_file(DATA / name)
    assert scoring.positions_build == "GRCh37"
    data = read_genotypes(f"{CINECA}.bed", snps_only=False)
    with pytest.raises(GenofaceError, match=f"none of its {scoring.n_variants} variants is in"):
        score(scoring, data)
    v = scoring.variants
    table = pd.DataFrame({"ID": v["id"], "A1": v["effect_allele"], "W": v["weight"]})
    table.to_csv(tmp_path / "hm.score", sep="\t", index=False)
    cmd = [PLINK2, "--threads", "1", "--bfile", str(CINECA), "--score", str(tmp_path / "hm.score"), "header-read",
           "--out", str(tmp_path / "hm")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode != 0 and "No valid variants" in (tmp_path / "hm.log").read_text()
