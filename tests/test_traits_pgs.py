"""PGS Catalog scoring files: parsing, scores against hand computation, matching, errors, 23andMe."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from genoface.errors import GenofaceError
from genoface.genetics._consumer import consumer_genotype_data
from genoface.io import GenotypeData
from genoface.traits import _pgs
from genoface.traits._pgs import read_scoring_file, score, scoring_panel

HEADER = """\
###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring for additional information
#format_version=2.0
##POLYGENIC SCORE (PGS) INFORMATION
#pgs_id=PGS999999
#pgs_name=toy_height
#trait_reported=Height
#genome_build=GRCh37
#variants_number=7
#weight_type=NR
"""  # 9 lines: the column header is line 10, the first variant line 11

# rs1: effect = ALT. rs2: effect = REF (scores 2 - dosage). rs3: the genotypes hold it on the
# other strand (G/T for C/A). rs4: sample s1 is missing. rs5: not in the genotypes. rs6: the
# genotypes have A/C for A/G (fits neither strand). rs7: A/T, strand-ambiguous, effect = REF.
VARIANTS = [
    # rsID chr pos effect other weight af
    ("rs1", "1", 1000, "A", "G", "0.5", "0.2"),
    ("rs2", "1", 2000, "C", "T", "-0.3", "0.4"),
    ("rs3", "2", 3000, "A", "C", "0.8", "0.3"),
    ("rs4", "2", 4000, "G", "A", "1.0", "0.25"),
    ("rs5", "3", 5000, "T", "C", "0.7", "0.1"),
    ("rs6", "3", 6000, "A", "G", "0.9", "0.5"),
    ("rs7", "4", 7000, "A", "T", "0.4", "0.3"),
]
COLUMNS = ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight"]


def _scoring_text(with_af=True, rows=VARIANTS, header=HEADER):
    cols = COLUMNS + (["allelefrequency_effect"] if with_af else [])
    lines = ["\t".join(cols)]
    for r in rows:
        fields = [str(v) for v in r]
        lines.append("\t".join(fields if with_af else fields[:6]))
    return header + "\n".join(lines) + "\n"


def _write(tmp_path, name, text):
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


def _cohort():
    variants = pd.DataFrame(
        {
            "chrom": ["1", "1", "2", "2", "3", "4", "5"],
            "pos": [1000, 2000, 3000, 4000, 6000, 7000, 9000],
            "id": ["rs1", "rs2", "rs3", "rs4", "rs6", "rs7", "rs99"],
            "ref": ["G", "C", "G", "A", "A", "A", "C"],
            "alt": ["A", "T", "T", "G", "C", "T", "G"],
        }
    )
    genotypes = np.array(
        [
            # rs1 rs2 rs3 rs4 rs6 rs7 rs99  (ALT dosage)
            [2, 0, 1, 1, 1, 0, 2],  # s0
            [1, 1, 0, -1, 0, 2, 0],  # s1
            [0, 2, 2, 2, 2, 1, 1],  # s2
        ],
        dtype=np.int8,
    )
    return GenotypeData(np.array(["s0", "s1", "s2"]), genotypes, variants)


# By hand, ambiguous SNPs dropped; effect dosage x weight per variant:
#   rs1 (ALT A, w 0.5):      s0 2 -> 1.0    s1 1 -> 0.5    s2 0 -> 0
#   rs2 (REF C, w -0.3):     s0 2-0=2 -> -0.6  s1 2-1=1 -> -0.3  s2 2-2=0 -> 0
#   rs3 (flipped: effect A = T = ALT, w 0.8): s0 1 -> 0.8  s1 0 -> 0  s2 2 -> 1.6
#   rs4 (ALT G, w 1.0):      s0 1 -> 1.0    s1 missing -> 2 x 0.25 = 0.5    s2 2 -> 2.0
#   sums: s0 1.0 - 0.6 + 0.8 + 1.0 = 2.2;  s1 0.5 - 0.3 + 0 + 0.5 = 0.7;  s2 0 + 0 + 1.6 + 2.0 = 3.6
#   score_avg = sum / (2 x 4 variants): 0.275, 0.0875, 0.45
EXPECTED_DROP = [2.2, 0.7, 3.6]
# Kept, rs7 (effect A = REF, w 0.4) adds 2 - dosage: s0 2 -> 0.8, s1 0 -> 0, s2 1 -> 0.4
#   sums: 3.0, 0.7, 4.0;  score_avg = sum / 10: 0.3, 0.07, 0.4
EXPECTED_KEEP = [3.0, 0.7, 4.0]


@pytest.mark.parametrize("name", ["toy.txt", "toy.txt.gz"])
def test_scores_match_hand_computation(tmp_path, name):
    path = _write(tmp_path, name, _scoring_text())
    scores, report = score(read_scoring_file(path), _cohort(), source="cohort.vcf")
    assert scores.index.tolist() == ["s0", "s1", "s2"] and scores.index.name == "sample_id"
    np.testing.assert_allclose(scores["score"], EXPECTED_DROP, atol=1e-12)
    np.testing.assert_allclose(scores["score_avg"], [0.275, 0.0875, 0.45], atol=1e-12)
    assert scores["n_variants_used"].tolist() == [4, 4, 4]
    assert scores["n_imputed"].tolist() == [0, 1, 0]
    assert report["scoring"] == str(path) and report["source"] == "cohort.vcf" and report["pgs_id"] == "PGS999999"
    expected = {
        "n_scoring": 7,
        "n_matched": 4,
        "n_matched_by_id": 4,
        "n_matched_by_position": 0,
        "n_strand_flipped": 1,
        "n_ambiguous": 1,
        "ambiguous": "drop",
        "n_ambiguous_kept": 0,
        "n_ambiguous_dropped": 1,
        "n_allele_mismatch": 1,
        "n_missing_from_genotypes": 1,
        "n_multiallelic": 0,
        "n_duplicate": 0,
        "n_no_calls": 0,
        "imputation": "allelefrequency_effect",
        "n_imputed_calls": 1,
    }
    assert {k: report[k] for k in expected} == expected
    assert report["fraction_matched"] == pytest.approx(4 / 7)


def test_ambiguous_kept(tmp_path):
    path = _write(tmp_path, "toy.txt", _scoring_text())
    scores, report = score(path, _cohort(), ambiguous="keep")
    np.testing.assert_allclose(scores["score"], EXPECTED_KEEP, atol=1e-12)
    np.testing.assert_allclose(scores["score_avg"], [0.3, 0.07, 0.4], atol=1e-12)
    assert scores["n_variants_used"].tolist() == [5, 5, 5]
    assert (report["n_ambiguous"], report["n_ambiguous_kept"], report["n_ambiguous_dropped"]) == (1, 1, 0)
    assert report["n_matched"] == 5 and report["ambiguous"] == "keep"


def test_missing_call_imputed_from_sample_mean(tmp_path):
    path = _write(tmp_path, "noaf.txt", _scoring_text(with_af=False))
    scores, report = score(path, _cohort())
    # rs4 is called 1 (s0) and 2 (s2): mean ALT (= effect) dosage 1.5, x 1.0; s1 = 0.5 - 0.3 + 0 + 1.5
    np.testing.assert_allclose(scores["score"], [2.2, 1.7, 3.6], atol=1e-12)
    assert report["imputation"] == "genotypes" and report["n_imputed_calls"] == 1


def test_plain_and_gzip_read_alike(tmp_path):
    a = read_scoring_file(_write(tmp_path, "a.txt", _scoring_text()))
    b = read_scoring_file(_write(tmp_path, "b.txt.gz", _scoring_text()))
    pd.testing.assert_frame_equal(a.variants, b.variants)
    assert a.metadata == b.metadata
    assert list(a.variants.columns) == list(_pgs.SCORING_COLUMNS)
    assert a.variants["weight"].tolist() == [0.5, -0.3, 0.8, 1.0, 0.7, 0.9, 0.4]
    assert a.variants["allele_frequency"].tolist() == [0.2, 0.4, 0.3, 0.25, 0.1, 0.5, 0.3]


def test_metadata_parsed(tmp_path):
    sf = read_scoring_file(_write(tmp_path, "toy.txt", _scoring_text()))
    assert sf.pgs_id == "PGS999999"
    assert sf.metadata["trait_reported"] == "Height"
    assert sf.metadata["genome_build"] == "GRCh37"
    assert sf.metadata["pgs_name"] == "toy_height"
    assert sf.metadata["format_version"] == "2.0"
    assert sf.positions_build == "GRCh37" and sf.n_variants == 7


def test_matched_by_position_without_rsid(tmp_path):
    text = HEADER + (
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
        "chr1\t1000\tA\tG\t0.5\n"
        "23\t500\tC\tT\t2.0\n"
    )
    data = GenotypeData(
        ["p", "q"],
        np.array([[1, 2], [2, 0]], dtype=np.int8),
        {"chrom": ["1", "chrX"], "pos": [1000, 500], "id": [".", "."], "ref": ["G", "C"], "alt": ["A", "T"]},
    )
    scores, report = score(_write(tmp_path, "pos.txt", text), data)
    # chr1:1000 effect A = ALT: p 1 x 0.5, q 2 x 0.5; X:500 effect C = REF: p (2-2) x 2, q (2-0) x 2
    np.testing.assert_allclose(scores["score"], [0.5, 5.0])
    assert report["n_matched_by_position"] == 2 and report["n_matched_by_id"] == 0


def test_rsid_match_comes_before_position(tmp_path):
    text = HEADER + "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\nrs1\t1\t1000\tA\tG\t1\n"
    # rs1 sits at 1:1000 in the scoring file but at 1:1500 in the genotypes; another variant at 1:1000
    data = GenotypeData(
        ["p"],
        np.array([[2, 0]], dtype=np.int8),
        {"chrom": ["1", "1"], "pos": [1500, 1000], "id": ["rs1", "rsX"], "ref": ["G", "G"], "alt": ["A", "A"]},
    )
    scores, report = score(_write(tmp_path, "id.txt", text), data)
    assert scores["score"].tolist() == [2.0]
    assert report["n_matched_by_id"] == 1 and report["n_matched_by_position"] == 0


def test_harmonized_columns_win(tmp_path):
    header = HEADER.replace("#weight_type=NR\n", "#weight_type=NR\n#HmPOS_build=GRCh38\n")
    text = header + (
        "rsID\tchr_name\tchr_position\teffect_allele\teffect_weight\thm_source\thm_rsID\thm_chr\thm_pos\t"
        "hm_inferOtherAllele\n"
        "rsOLD\t1\t999\tA\t0.5\tENSEMBL\trs1\t1\t1000\tG\n"  # author rsID and position replaced
        "rs2\t1\t1999\tC\t1.0\tENSEMBL\t\t1\t2000\tA/T\n"  # hm_rsID empty: author rsID kept
        "rs3\t2\t2999\tT\t2.0\tUnknown\t\t\t\tG\n"  # not harmonized: GRCh37 position not used
    )
    sf = read_scoring_file(_write(tmp_path, "hm.txt", text))
    v = sf.variants
    assert v["id"].tolist() == ["rs1", "rs2", "rs3"]
    assert v["chrom"].tolist() == ["1", "1", ""] and v["pos"].tolist() == [1000, 2000, 0]
    # other allele inferred where hm_inferOtherAllele holds one allele, unknown for "A/T"
    assert v["other_allele"].tolist() == ["G", "", "G"]
    assert sf.positions_build == "GRCh38" and sf.metadata["HmPOS_build"] == "GRCh38"
    data = GenotypeData(
        ["p"],
        np.array([[1, 2, 1]], dtype=np.int8),
        {"chrom": ["1", "1", "2"], "pos": [1000, 2000, 2999], "id": [".", ".", "."], "ref": ["G", "C", "G"]}
        | {"alt": ["A", "A", "T"]},
    )
    scores, report = score(sf, data)
    # 1:1000 A = ALT, 1 x 0.5; 1:2000 C = REF, other unknown, (2 - 2) x 1.0; 2:2999 author-only: unmatched
    assert scores["score"].tolist() == [0.5]
    assert report["n_matched_by_position"] == 2 and report["n_missing_from_genotypes"] == 1


def test_harmonized_fallback_to_author_position_on_same_build(tmp_path):
    header = HEADER.replace("#weight_type=NR\n", "#weight_type=NR\n#HmPOS_build=GRCh37\n")
    text = header + "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
    text += "\t2\t3000\tT\tG\t2.0\t\t\n"
    sf = read_scoring_file(_write(tmp_path, "hm37.txt", text))
    assert sf.variants["chrom"].tolist() == ["2"] and sf.variants["pos"].tolist() == [3000]


def test_multiallelic_and_duplicate(tmp_path):
    text = HEADER + (
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
        "rs1\t1\t1000\tT\tG\t1.0\n"
        "rs1\t1\t1000\tT\tG\t5.0\n"  # the same variant again: left out
    )
    # rs1 is split into G>A and G>T records; the scoring variant's alleles pick the second
    data = GenotypeData(
        ["p"],
        np.array([[2, 1]], dtype=np.int8),
        {"chrom": ["1", "1"], "pos": [1000, 1000], "id": ["rs1", "rs1"], "ref": ["G", "G"], "alt": ["A", "T"]},
    )
    scores, report = score(_write(tmp_path, "multi.txt", text), data)
    assert scores["score"].tolist() == [1.0]
    assert report["n_multiallelic"] == 2 and report["n_duplicate"] == 1 and report["n_matched"] == 1


def test_variant_without_calls_left_out(tmp_path):
    path = _write(tmp_path, "toy.txt", _scoring_text())
    data = _cohort()
    data.genotypes[:, 0] = -1  # rs1 called in nobody
    scores, report = score(path, data)
    np.testing.assert_allclose(scores["score"], [1.2, 0.2, 3.6], atol=1e-12)  # hand sums less rs1
    assert report["n_no_calls"] == 1 and report["n_matched"] == 3
    assert scores["n_imputed"].tolist() == [0, 1, 0]


def test_fast_path_equals_slow_loop(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n, m = 40, 300
    bases = np.array(list("ACGT"))
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    ref = rng.choice(bases, m)
    alt = np.array([rng.choice([b for b in bases if b not in (r, comp[r])]) for r in ref])  # no A/T, C/G
    g = rng.choice(np.array([-1, 0, 1, 2], dtype=np.int8), size=(n, m), p=[0.05, 0.35, 0.35, 0.25])
    data = GenotypeData(
        [f"s{k}" for k in range(n)],
        g,
        {"chrom": ["1"] * m, "pos": np.arange(1, m + 1)} | {"id": [f"rs{k}" for k in range(m)], "ref": ref, "alt": alt},
    )
    effect_is_alt = rng.random(m) < 0.5
    flip = rng.random(m) < 0.3
    eff = np.where(effect_is_alt, alt, ref)
    oth = np.where(effect_is_alt, ref, alt)
    eff = np.where(flip, [comp[a] for a in eff], eff)
    oth = np.where(flip, [comp[a] for a in oth], oth)
    w = rng.normal(size=m)
    af = rng.uniform(0.05, 0.95, m)
    rows = [(f"rs{k}", "1", k + 1, eff[k], oth[k], repr(float(w[k])), repr(float(af[k]))) for k in range(m)]
    monkeypatch.setattr(_pgs, "_BLOCK_ELEMENTS", n * 7)  # several column blocks
    scores, report = score(_write(tmp_path, "rand.txt", _scoring_text(rows=rows)), data)
    expected = np.zeros(n)
    for s in range(n):
        for k in range(m):
            d = 2 * af[k] if g[s, k] < 0 else (g[s, k] if effect_is_alt[k] else 2 - g[s, k])
            expected[s] += d * w[k]
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-10, atol=1e-10)
    assert report["n_strand_flipped"] == flip.sum() and report["n_matched"] == m
    assert scores["n_imputed"].tolist() == (g < 0).sum(axis=1).tolist()


# ---- errors ---------------------------------------------------------------------------------------


def _one_line(e: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    for part in parts:
        assert part in msg, msg
    return msg


def test_no_overlap_names_both_files(tmp_path):
    rows = [(f"rs{100000 + k}", "9", 10_000 + k, "A", "G", "0.1", "0.5") for k in range(1234)]
    path = _write(tmp_path, "far.txt", _scoring_text(rows=rows))
    with pytest.raises(GenofaceError) as e:
        score(path, _cohort(), source="cohort.vcf.gz")
    _one_line(e, str(path), "cohort.vcf.gz", "1,234", "GRCh37")


def test_all_alleles_mismatched_refused(tmp_path):
    path = _write(tmp_path, "bad.txt", _scoring_text(rows=[VARIANTS[5]]))
    with pytest.raises(GenofaceError) as e:
        score(path, _cohort())
    _one_line(e, str(path), "1 allele mismatches")


def test_missing_effect_weight_column(tmp_path):
    text = HEADER + "rsID\teffect_allele\tother_allele\nrs1\tA\tG\n"
    path = _write(tmp_path, "now.txt", text)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "effect_weight", "line 10")


def test_missing_locator_columns(tmp_path):
    path = _write(tmp_path, "noloc.txt", HEADER + "effect_allele\teffect_weight\nA\t1\n")
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "rsID", "chr_position")


def test_non_numeric_weight_names_line(tmp_path):
    rows = list(VARIANTS[:3])
    rows[1] = ("rs2", "1", 2000, "C", "T", "0.3x", "0.4")
    path = _write(tmp_path, "nan.txt.gz", _scoring_text(rows=rows))
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 12", "'0.3x'", "not a number")


def test_dominant_weights_refused(tmp_path):
    text = HEADER + (
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\n"
        "rs1\t1\t1000\tA\tG\t0.5\tFalse\n"
        "rs2\t1\t2000\tC\tT\t0.5\tTrue\n"
    )
    path = _write(tmp_path, "dom.txt", text)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 12", "is_dominant", "not supported")


def test_empty_table_and_long_row(tmp_path):
    path = _write(tmp_path, "empty.txt", HEADER + "\t".join(COLUMNS) + "\n")
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "no rows")
    text = _scoring_text(rows=VARIANTS[:2]).rstrip("\n") + "\textra\n"
    path = _write(tmp_path, "long.txt", text)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 12")


def test_bad_ambiguous_option(tmp_path):
    with pytest.raises(GenofaceError, match="ambiguous"):
        score(_write(tmp_path, "toy.txt", _scoring_text()), _cohort(), ambiguous="maybe")


# ---- consumer files -------------------------------------------------------------------------------

# s0 of the cohort on the scoring file's strand: rs1 ALT A x2 -> AA; rs2 REF C x2 -> CC; rs3 het of
# G/T, read on the other strand C/A -> AC; rs4 het A/G -> AG; rs5 not on the chip; rs6 A/C (fits
# neither strand of A/G); rs7 REF A x2 -> AA (homozygous A/T: strand cannot be resolved).
S0_23ANDME = """\
# This data file generated by 23andMe at: Mon Jan 01 00:00:00 2024
# rsid\tchromosome\tposition\tgenotype
rs1\t1\t1000\tAA
rs2\t1\t2000\tCC
rs3\t2\t3000\tAC
rs4\t2\t4000\tAG
rs6\t3\t6000\tAC
rs7\t4\t7000\tAA
rs99\t5\t9000\tGG
i700\t6\t1234\tTT
"""


def test_23andme_scored_through_panel_equals_genotype_data(tmp_path):
    sf = read_scoring_file(_write(tmp_path, "toy.txt", _scoring_text()))
    panel = scoring_panel(sf)
    assert list(panel.columns) == ["id", "chrom", "pos", "ref", "alt"]
    assert panel["ref"].tolist() == [v[4] for v in VARIANTS] and panel["alt"].tolist() == [v[3] for v in VARIANTS]
    data, match = consumer_genotype_data(_write(tmp_path, "s0.txt", S0_23ANDME), panel)
    assert match["n_found"] == 6
    scores, report = score(sf, data, source="s0.txt")
    cohort, _ = score(sf, _cohort())
    assert scores.index.tolist() == ["s0"]
    assert scores.loc["s0", "score"] == pytest.approx(cohort.loc["s0", "score"]) == pytest.approx(2.2)
    assert scores.loc["s0", "n_variants_used"] == cohort.loc["s0", "n_variants_used"] == 4
    assert scores.loc["s0", "n_imputed"] == 0
    # rs5 (not on the chip) and rs6 (alleles fit neither strand) are columns without calls, left out
    assert report["n_no_calls"] == 2 and report["n_ambiguous_dropped"] == 1 and report["n_matched"] == 4
