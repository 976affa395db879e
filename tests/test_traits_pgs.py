"""PGS Catalog scoring files: parsing, scores against hand computation, matching, effect types,
missing calls, errors, 23andMe. (Against plink2 itself: tests/test_pgs_plink2.py.)"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import consumer_genotype_data
from genoface.io import GenotypeData
from genoface.traits import _pgs, matched_variants, read_scoring_file, score, scoring_panel

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgs"

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
#   rs4 (ALT G, w 1.0):      s0 1 -> 1.0    s1 missing    s2 2 -> 2.0
#   s1's missing rs4 call is the mean effect dosage of the called samples (plink2's default):
#   (1 + 2) / 2 = 1.5 -> 1.5; with missing="frequency", 2 x allelefrequency_effect 0.25 = 0.5.
#   sums: s0 1.0 - 0.6 + 0.8 + 1.0 = 2.2;  s1 0.5 - 0.3 + 0 + 1.5 = 1.7;  s2 0 + 0 + 1.6 + 2.0 = 3.6
#   score_avg = sum / (2 x 4 variants): 0.275, 0.2125, 0.45
EXPECTED_DROP = [2.2, 1.7, 3.6]
EXPECTED_DROP_FILE_FREQUENCY = [2.2, 0.7, 3.6]
# Kept, rs7 (effect A = REF, w 0.4) adds 2 - dosage: s0 2 -> 0.8, s1 0 -> 0, s2 1 -> 0.4
#   sums: 3.0, 1.7, 4.0;  score_avg = sum / 10: 0.3, 0.17, 0.4
EXPECTED_KEEP = [3.0, 1.7, 4.0]


@pytest.mark.parametrize("name", ["toy.txt", "toy.txt.gz"])
def test_scores_match_hand_computation(tmp_path, name):
    path = _write(tmp_path, name, _scoring_text())
    scores, report = score(read_scoring_file(path), _cohort(), source="cohort.vcf")
    assert scores.index.tolist() == ["s0", "s1", "s2"] and scores.index.name == "sample_id"
    np.testing.assert_allclose(scores["score"], EXPECTED_DROP, atol=1e-12)
    np.testing.assert_allclose(scores["score_avg"], [0.275, 0.2125, 0.45], atol=1e-12)
    assert scores["n_variants_used"].tolist() == [4, 4, 4]
    assert scores["n_imputed"].tolist() == [0, 1, 0] and scores["n_missing"].tolist() == [0, 1, 0]
    assert report["scoring"] == str(path) and report["source"] == "cohort.vcf" and report["pgs_id"] == "PGS999999"
    expected = {
        "n_scoring": 7,
        "n_matched": 4,
        "n_matched_by_id": 4,
        "n_matched_by_position": 0,
        "n_flipped": 1,
        "n_strand_flipped": 1,
        "n_indels": 0,
        "effect_types": {"additive": 4},
        "n_ambiguous": 1,
        "ambiguous": "drop",
        "n_ambiguous_kept": 0,
        "n_ambiguous_dropped": 1,
        "n_allele_mismatch": 1,
        "n_missing_from_genotypes": 1,
        "n_multiallelic": 0,
        "n_duplicate": 0,
        "n_no_calls": 0,
        "n_complex": 0,
        "dropped": {
            "complex": 0, "absent": 1, "allele mismatch": 1, "ambiguous strand": 1, "duplicate": 0, "no call": 0
        },
        "missing": "mean",
        "imputation": "genotypes",
        "n_imputed_calls": 1,
        "n_missing_calls": 1,
        "positions_used": True,
    }  # fmt: skip
    assert {k: report[k] for k in expected} == expected
    assert report["fraction_matched"] == pytest.approx(4 / 7)
    assert report["summary"].startswith("PGS999999: 4 of 7 variants scored (1 effect allele = REF, 1 strand-flipped)")
    assert "1 not in the genotypes, 1 allele mismatch, 1 A/T or C/G (drop)" in report["summary"]
    json.dumps(report)  # the report is JSON as it is


def test_ambiguous_kept(tmp_path):
    path = _write(tmp_path, "toy.txt", _scoring_text())
    scores, report = score(path, _cohort(), ambiguous="keep")
    np.testing.assert_allclose(scores["score"], EXPECTED_KEEP, atol=1e-12)
    np.testing.assert_allclose(scores["score_avg"], [0.3, 0.17, 0.4], atol=1e-12)
    assert scores["n_variants_used"].tolist() == [5, 5, 5]
    assert (report["n_ambiguous"], report["n_ambiguous_kept"], report["n_ambiguous_dropped"]) == (1, 1, 0)
    assert report["n_matched"] == 5 and report["ambiguous"] == "keep"


def test_ambiguous_oriented_by_frequency(tmp_path):
    # rs7 A/T, effect A at frequency 0.1 in the file. The genotypes (REF A, ALT T) have A at 1/6
    # (ALT T at 5/6): both rare, A is A -> read as written, 2 - dosage. Then with the file saying
    # 0.9 the two disagree -> read on the other strand (A here is T there): the ALT dosage. At
    # 0.5 the strand cannot be told -> dropped.
    data = GenotypeData(
        ["s0", "s1", "s2"],
        np.array([[2], [2], [1]], dtype=np.int8),
        {"chrom": ["4"], "pos": [7000], "id": ["rs7"], "ref": ["A"], "alt": ["T"]},
    )
    for af, expected, n_kept in (("0.1", [0.0, 0.0, 0.4], 1), ("0.9", [0.8, 0.8, 0.4], 1), ("0.5", None, 0)):
        rows = [("rs7", "4", 7000, "A", "T", "0.4", af), ("rs1", "1", 1, "A", "G", "1", "0.5")]
        data_plus = GenotypeData(
            data.sample_ids,
            np.hstack([data.genotypes, np.array([[0], [0], [0]], dtype=np.int8)]),
            pd.concat([data.variants, pd.DataFrame({"chrom": ["1"], "pos": [1], "id": ["rs1"], "ref": ["G"],
                                                    "alt": ["A"]})]),
        )  # fmt: skip
        path = _write(tmp_path, f"f{af}.txt", _scoring_text(rows=rows))
        scores, report = score(path, data_plus, ambiguous="frequency")
        assert report["n_ambiguous_by_frequency"] == n_kept and report["n_ambiguous_kept"] == n_kept
        if expected is not None:
            np.testing.assert_allclose(scores["score"], expected, atol=1e-12)
        else:
            assert report["n_ambiguous_dropped"] == 1 and scores["score"].tolist() == [0.0, 0.0, 0.0]


def test_missing_calls_by_rule(tmp_path):
    path = _write(tmp_path, "toy.txt", _scoring_text())
    scores, report = score(path, _cohort(), missing="frequency")
    np.testing.assert_allclose(scores["score"], EXPECTED_DROP_FILE_FREQUENCY, atol=1e-12)
    assert report["imputation"] == "allelefrequency_effect" and report["n_imputed_calls"] == 1
    # Without a frequency in the file, "frequency" falls back to the samples' mean.
    scores, report = score(_write(tmp_path, "noaf.txt", _scoring_text(with_af=False)), _cohort(), missing="frequency")
    np.testing.assert_allclose(scores["score"], EXPECTED_DROP, atol=1e-12)
    assert report["imputation"] == "genotypes"
    # "none": s1's rs4 is left out, its average over the 3 variants it has (plink2 no-mean-imputation)
    scores, report = score(path, _cohort(), missing="none")
    np.testing.assert_allclose(scores["score"], [2.2, 0.2, 3.6], atol=1e-12)
    np.testing.assert_allclose(scores["score_avg"], [2.2 / 8, 0.2 / 6, 3.6 / 8], atol=1e-12)
    assert report["imputation"] == "none" and report["n_imputed_calls"] == 0 and report["n_missing_calls"] == 1
    assert scores["n_imputed"].tolist() == [0, 0, 0] and scores["n_missing"].tolist() == [0, 1, 0]
    with pytest.raises(GenofaceError, match="missing must be one of"):
        score(path, _cohort(), missing="zero")


def test_plain_and_gzip_read_alike(tmp_path):
    a = read_scoring_file(_write(tmp_path, "a.txt", _scoring_text()))
    b = read_scoring_file(_write(tmp_path, "b.txt.gz", _scoring_text()))
    pd.testing.assert_frame_equal(a.variants, b.variants)
    assert a.metadata == b.metadata
    assert list(a.variants.columns) == list(_pgs.SCORING_COLUMNS)
    assert a.variants["weight"].tolist() == [0.5, -0.3, 0.8, 1.0, 0.7, 0.9, 0.4]
    assert a.variants["allele_frequency"].tolist() == [0.2, 0.4, 0.3, 0.25, 0.1, 0.5, 0.3]
    assert a.variants["line"].tolist() == list(range(11, 18))
    assert set(a.variants["effect_type"]) == {"additive"} and (a.variants["skip"] == "").all()


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
    np.testing.assert_allclose(scores["score"], [1.2, 1.2, 3.6], atol=1e-12)  # hand sums less rs1
    assert report["n_no_calls"] == 1 and report["n_matched"] == 3 and report["dropped"]["no call"] == 1
    assert scores["n_imputed"].tolist() == [0, 1, 0]
    table = matched_variants(path, data)
    assert table.loc[0, "status"] == "no call" and table.loc[0, "n_called"] == 0


def test_matched_variants_table(tmp_path):
    path = _write(tmp_path, "toy.txt", _scoring_text())
    t = matched_variants(path, _cohort())
    assert t["status"].tolist() == ["scored"] * 4 + ["absent", "allele mismatch", "ambiguous strand"]
    assert t["target"].tolist() == [0, 1, 2, 3, -1, -1, -1]
    assert t["counted"].tolist()[:4] == ["ALT", "REF", "ALT", "ALT"]
    assert t["strand_flipped"].tolist()[:4] == [False, False, True, False]
    assert t["target_ref"].tolist()[:4] == ["G", "C", "G", "A"] and t["target_alt"].tolist()[:4] == ["A", "T", "T", "G"]
    # rs4: called 1 and 2, effect frequency 3/4, a missing call contributes 2 x 0.75 x 1.0
    assert t.loc[3, "effect_frequency"] == pytest.approx(0.75) and t.loc[3, "imputed"] == pytest.approx(1.5)
    assert np.isnan(t.loc[0, "imputed"]) and t["line"].tolist() == list(range(11, 18))


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
    kind = rng.choice(["additive", "dominant", "recessive", "dosage"], m)
    w = rng.normal(size=(3, m))
    cols = ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "is_dominant",
            "is_recessive", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight"]  # fmt: skip
    lines = ["\t".join(cols)]
    for k in range(m):
        d = kind[k] == "dosage"
        weights = ["", *(repr(float(x)) for x in w[:, k])] if d else [repr(float(w[1, k])), "", "", ""]
        flags = [str(kind[k] == "dominant"), str(kind[k] == "recessive")]
        lines.append("\t".join([f"rs{k}", "1", str(k + 1), eff[k], oth[k], weights[0], *flags, *weights[1:]]))
    path = _write(tmp_path, "rand.txt", HEADER + "\n".join(lines) + "\n")
    monkeypatch.setattr(_pgs, "_BLOCK_ELEMENTS", n * 7)  # several column blocks
    scores, report = score(path, data)
    expected = np.zeros(n)
    for k in range(m):
        copies = np.where(g[:, k] < 0, -1, g[:, k] if effect_is_alt[k] else 2 - g[:, k])
        value = {"additive": [0, w[1, k], 2 * w[1, k]], "dominant": [0, w[1, k], w[1, k]],
                 "recessive": [0, 0, w[1, k]], "dosage": list(w[:, k])}[kind[k]]  # fmt: skip
        p = copies[copies >= 0].mean() / 2
        fill = value[0] + (value[2] - value[0]) * p
        for s_ in range(n):
            expected[s_] += fill if copies[s_] < 0 else value[copies[s_]]
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-10, atol=1e-10)
    assert report["n_strand_flipped"] == flip.sum() and report["n_matched"] == m
    assert scores["n_imputed"].tolist() == (g < 0).sum(axis=1).tolist()
    assert sum(report["effect_types"].values()) == m


# ---- effect types --------------------------------------------------------------------------------

EFFECT_HEADER = HEADER + (
    "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\tis_recessive\n"
)


def _effect_cohort():
    # one variant G>A; effect allele A = ALT (dosages 0, 1, 2, missing) and a second copy with
    # REF/ALT exchanged (effect allele counted as 2 - dosage)
    variants = {"chrom": ["1", "1"], "pos": [100, 200], "id": [".", "."], "ref": ["G", "A"], "alt": ["A", "G"]}
    g = np.array([[0, 2], [1, 1], [2, 0], [-1, -1], [2, 0]], dtype=np.int8)
    return GenotypeData([f"s{k}" for k in range(5)], g, variants)


@pytest.mark.parametrize(
    ("flags", "by_copies"),
    [("False\tFalse", [0.0, 1.0, 2.0]), ("True\tFalse", [0.0, 1.0, 1.0]), ("False\tTrue", [0.0, 0.0, 1.0])],
)
def test_dominant_and_recessive_weights(tmp_path, flags, by_copies):
    text = EFFECT_HEADER + f"1\t100\tA\tG\t2.0\t{flags}\n1\t200\tA\tG\t-1.0\t{flags}\n"
    scores, report = score(_write(tmp_path, "dom.txt", text), _effect_cohort())
    # Both rows count A; copies per sample: 0, 1, 2, missing, 2. Contribution (2 - 1) x value.
    value = np.array(by_copies)
    p = (0 + 1 + 2 + 2) / 8  # the effect allele's frequency among the 4 called samples
    dominant_or_recessive = flags != "False\tFalse"
    fill = p if dominant_or_recessive else 2 * p  # plink2: p on the 0..1 scale of dominant / recessive
    expected = np.array([value[0], value[1], value[2], fill, value[2]]) * (2.0 - 1.0)
    np.testing.assert_allclose(scores["score"], expected, atol=1e-12)
    kind = {"False\tFalse": "additive", "True\tFalse": "dominant", "False\tTrue": "recessive"}[flags]
    assert report["effect_types"] == {kind: 2}


def test_per_dosage_weights(tmp_path):
    text = HEADER + (
        "chr_name\tchr_position\teffect_allele\tother_allele\tdosage_0_weight\tdosage_1_weight\tdosage_2_weight\n"
        "1\t100\tA\tG\t-0.1\t0.3\t0.2\n"  # effect A = ALT
        "1\t200\tA\tG\t0.05\t0.0\t1.0\n"  # effect A = REF of this record
    )
    sf = read_scoring_file(_write(tmp_path, "dosage.txt", text))
    assert sf.variants["effect_type"].tolist() == ["dosage", "dosage"] and sf.variants["weight"].isna().all()
    scores, report = score(sf, _effect_cohort())
    w1, w2 = np.array([-0.1, 0.3, 0.2]), np.array([0.05, 0.0, 1.0])
    copies = [0, 1, 2, None, 2]
    p = 5 / 8
    # a missing call: w0 + (w2 - w0) p, what plink2 gives for w0 + (w1 - w0) dominant + (w2 - w1) recessive
    expected = [w1[c] + w2[c] if c is not None else (w1[0] + (w1[2] - w1[0]) * p) + (w2[0] + (w2[2] - w2[0]) * p)
                for c in copies]  # fmt: skip
    np.testing.assert_allclose(scores["score"], expected, atol=1e-12)
    assert report["effect_types"] == {"dosage": 2}


def test_complex_rows_skipped_with_reason(tmp_path):
    text = HEADER + (
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_haplotype\tis_diplotype\n"
        "\t\t\tHLA-DR3/HLA-DR4\t\t3.87\tFALSE\tTRUE\n"
        "\t6\t100\tHLA-A*24\t\t0.43\tTRUE\tFALSE\n"
        "rs1\t1\t1000\tA\tG\t0.5\tFALSE\tFALSE\n"
        "rs9\t1\t1000\tA\t-\t0.5\tFALSE\tFALSE\n"  # '-' is not an allele a genotype file holds
        "rs2\t1\t2000\tC\tT\t-0.3\tFALSE\tFALSE\n"
    )
    sf = read_scoring_file(_write(tmp_path, "complex.txt", text))
    assert sf.n_variants == 5 and sf.n_complex == 3
    assert sf.variants["skip"].tolist()[:2] == ["diplotype", "haplotype"]
    assert sf.variants["skip"].iloc[3] == "other allele '-' is not a DNA sequence"
    assert len(scoring_panel(sf)) == 2
    scores, report = score(sf, _cohort())
    np.testing.assert_allclose(scores["score"], [1.0 - 0.6, 0.5 - 0.3, 0.0], atol=1e-12)
    assert report["n_complex"] == 3 and report["n_scoring"] == 5 and report["n_matched"] == 2
    assert report["n_missing_from_genotypes"] == 0 and "3 complex" in report["summary"]
    t = matched_variants(sf, _cohort())
    assert t["status"].tolist() == ["complex: diplotype", "complex: haplotype", "scored",
                                    "complex: other allele '-' is not a DNA sequence", "scored"]  # fmt: skip


def test_only_complex_rows_refused(tmp_path):
    text = HEADER + "rsID\teffect_allele\teffect_weight\tis_haplotype\n\tHLA-A*24\t0.43\tTRUE\n"
    path = _write(tmp_path, "hla.txt", text)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "none of its 1 rows", "haplotype")


def test_real_complex_file_skips_the_hla_rows():
    path = REAL / "complex_variants_PGS000021.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent (the project's shared data)")
    sf = read_scoring_file(path)
    skip = sf.variants["skip"]
    assert sf.n_variants == 33 and (skip == "diplotype").sum() == 5 and (skip == "haplotype").sum() == 3
    assert (sf.variants.loc[skip == "", "id"].str.startswith("rs")).all()


def test_real_harmonized_effect_types():
    path = REAL / "PGS000802_hmPOS_GRCh37.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent (the project's shared data)")
    sf = read_scoring_file(path)
    assert sf.variants["effect_type"].value_counts().to_dict() == {"dominant": 7, "recessive": 7, "additive": 5}
    assert sf.positions_build == "GRCh37" and sf.variants.loc[0, "pos"] == 169492101  # hm_pos, not chr_position
    sf = read_scoring_file(REAL / "PGS004255_hmPOS_GRCh38.txt.gz")
    assert (sf.variants["effect_type"] == "dosage").all() and sf.n_variants == 30
    assert sf.positions_build == "GRCh38" and sf.variants.loc[0, "pos"] == 32609603


# ---- indels and multi-allelic records ------------------------------------------------------------


def test_indels_and_multiallelic_ref(tmp_path):
    # A record G > A,T split into two rows (as read_genotypes(snps_only=False) does), and an
    # insertion C > CT. Person genotypes: p0 A/T, p1 G/G, p2 G/A, p3 T/T; insertion 0, 1, 2, 1.
    variants = {
        "chrom": ["1", "1", "1"], "pos": [1000, 1000, 2000], "id": ["rs1", "rs1", "rs2"],
        "ref": ["G", "G", "C"], "alt": ["A", "T", "CT"],
    }  # fmt: skip
    g = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 2], [0, 2, 1]], dtype=np.int8)
    data = GenotypeData(["p0", "p1", "p2", "p3"], g, variants)
    text = HEADER + (
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
        "rs1\t1\t1000\tG\tT\t1.0\n"  # REF of the multi-allelic record: copies of G
        "rs2\t1\t2000\tC\tCT\t0.5\n"  # the insertion's REF
        "rs3\t1\t1000\tA\tG\t0.25\n"  # by position, ALT 1
    )
    scores, report = score(_write(tmp_path, "multi.txt", text), data)
    g_copies = np.array([0, 2, 1, 0])  # 2 - A - T; not 2 - T (which would count p0's A as G)
    expected = 1.0 * g_copies + 0.5 * (2 - g[:, 2]) + 0.25 * g[:, 0]
    np.testing.assert_allclose(scores["score"], expected, atol=1e-12)
    assert report["n_multiallelic"] == 2 and report["n_indels"] == 1 and report["n_matched"] == 3
    t = matched_variants(_write(tmp_path, "multi.txt", text), data)
    assert t["multiallelic_ref"].tolist() == [True, False, False] and t["counted"].tolist() == ["REF", "REF", "ALT"]


def test_positions_not_used_across_builds(tmp_path):
    header = HEADER.replace("#weight_type=NR\n", "#weight_type=NR\n#HmPOS_build=GRCh38\n")
    text = header + "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
    text += "1\t900\tA\tG\t1.0\t1\t1000\n"
    data = GenotypeData(
        ["p"], np.array([[2]], dtype=np.int8),
        {"chrom": ["1"], "pos": [1000], "id": ["."], "ref": ["G"], "alt": ["A"]}, build="GRCh37",
    )  # fmt: skip
    path = _write(tmp_path, "hm38.txt", text)
    with pytest.raises(GenofaceError, match="none of its 1 variants"):
        score(path, data)  # GRCh38 positions are not looked up among GRCh37 genotypes
    data.build = "GRCh38"
    scores, report = score(path, data)
    assert scores["score"].tolist() == [2.0] and report["positions_used"]


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


def test_effect_type_conflicts_refused(tmp_path):
    both = EFFECT_HEADER + "1\t100\tA\tG\t0.5\tFalse\tFalse\n1\t200\tC\tT\t0.5\tTrue\tTrue\n"
    path = _write(tmp_path, "both.txt", both)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 12", "is_dominant and is_recessive are both true")
    partial = HEADER + "rsID\teffect_allele\tdosage_0_weight\tdosage_1_weight\nrs1\tA\t0\t1\n"
    path = _write(tmp_path, "partial.txt", partial)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 10", "dosage_2_weight")
    half = HEADER + (
        "rsID\teffect_allele\teffect_weight\tdosage_0_weight\tdosage_1_weight\tdosage_2_weight\n"
        "rs1\tA\t0.5\t\t\t\n"  # effect_weight: additive
        "rs2\tA\t\t0\t1\t\n"  # two of the three dosage weights
    )
    path = _write(tmp_path, "half.txt", half)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 12", "only some of")
    flagged = HEADER + (
        "rsID\teffect_allele\tis_dominant\tdosage_0_weight\tdosage_1_weight\tdosage_2_weight\nrs1\tA\tTrue\t0\t1\t1\n"
    )
    path = _write(tmp_path, "flagged.txt", flagged)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 11", "dosage_*_weight")


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


def test_trailing_tabs_and_damaged_lines(tmp_path):
    # Rows ending in a tab (spreadsheet exports): read, not shifted by a column.
    text = _scoring_text(rows=VARIANTS[:2]).replace("\n", "\t\n").replace("\t\n", "\n", HEADER.count("\n") + 1)
    sf = read_scoring_file(_write(tmp_path, "trailing.txt.gz", text))
    assert sf.variants["weight"].tolist() == [0.5, -0.3] and sf.variants["id"].tolist() == ["rs1", "rs2"]
    filled = _scoring_text(rows=VARIANTS[:2]).rstrip("\n") + "\tx\n"
    filled = filled.replace("0.2\n", "0.2\t\n")  # the first row has an empty extra field, the second a filled one
    path = _write(tmp_path, "filled.txt", filled)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 12", "more fields")
    wide = HEADER + "rsID" + "\t" * 20_000 + "x\n"  # a damaged line where the header should be
    path = _write(tmp_path, "wide.txt", wide)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 10", "20,001 columns")
    long_chrom = _scoring_text(rows=[("rs1", "9" * 5000, 1000, "A", "G", "0.5", "0.2")])
    path = _write(tmp_path, "chrom.txt", long_chrom)
    with pytest.raises(GenofaceError) as e:
        read_scoring_file(path)
    _one_line(e, str(path), "line 11", "not a chromosome name")


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
    assert match.n_panel - match.n_absent == 6
    scores, report = score(sf, data, source="s0.txt")
    cohort, _ = score(sf, _cohort())
    assert scores.index.tolist() == ["s0"]
    assert scores.loc["s0", "score"] == pytest.approx(cohort.loc["s0", "score"]) == pytest.approx(2.2)
    assert scores.loc["s0", "n_variants_used"] == cohort.loc["s0", "n_variants_used"] == 4
    assert scores.loc["s0", "n_imputed"] == 0
    # rs5 (not on the chip) and rs6 (alleles fit neither strand) are columns without calls, left out
    assert report["n_no_calls"] == 2 and report["n_ambiguous_dropped"] == 1 and report["n_matched"] == 4
