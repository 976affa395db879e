"""The allele matcher and chromosome names, on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.core.schema import in_par, normalize_build, normalize_chrom, normalize_chroms, split_par
from genoface.genetics import alt_frequencies, match_calls, match_variants, on_panel
from genoface.io.genotypes import GenotypeData

# A model's panel: REF/ALT as in training; ALT is counted.
PANEL = pd.DataFrame(
    {
        "id": ["rs1", "rs2", "rs3", "rs4", "rs5", "rs6", "rs7", "rs8"],
        "chrom": ["1", "1", "2", "2", "3", "3", "X", "4"],
        "pos": [100, 200, 300, 400, 500, 600, 700, 800],
        "ref": ["A", "C", "A", "A", "C", "G", "G", "A"],
        "alt": ["G", "T", "T", "C", "G", "A", "A", "AT"],
    }
)


def _target(rows):
    return pd.DataFrame(rows, columns=["id", "chrom", "pos", "ref", "alt"])


def test_chromosome_names():
    assert [normalize_chrom(c) for c in ("chr1", "1", "01", "chrX", "23", "X", "24", "chrY")] == [
        "1", "1", "1", "X", "X", "X", "Y", "Y"
    ]  # fmt: skip
    assert [normalize_chrom(c) for c in ("XY", "25", "PAR", "chrXY", "MT", "M", "chrM", "26", "")] == [
        "XY", "XY", "XY", "XY", "MT", "MT", "MT", "MT", ""
    ]  # fmt: skip
    assert normalize_chroms(pd.Series(["chr2", "chr2", "23"])).tolist() == ["2", "2", "X"]
    assert normalize_chrom("GL000192.1") == "GL000192.1"
    assert normalize_build("hg19") == "GRCh37" and normalize_build("GRCh38.p13") == "GRCh38"
    assert normalize_build("simulated (stdpopsim)") is None


def test_pseudo_autosomal_regions_by_build():
    chrom = np.array(["X", "X", "X", "XY", "1"])
    pos = np.array([100_000, 2_750_000, 5_000_000, 1, 100_000])
    # GRCh37 PAR1 ends at 2,699,520, GRCh38's at 2,781,479.
    assert in_par(chrom, pos, "GRCh37").tolist() == [True, False, False, True, False]
    assert in_par(chrom, pos, "GRCh38").tolist() == [True, True, False, True, False]
    # Unknown build: only what is named XY (a simulated X has positions that mean nothing).
    assert in_par(chrom, pos, None).tolist() == [False, False, False, True, False]
    v = pd.DataFrame({"chrom": chrom, "pos": pos})
    assert split_par(v, "hg38")["chrom"].tolist() == ["XY", "XY", "X", "XY", "1"]


def test_forward_strand_target_exchanged_flipped_and_palindromic():
    target = _target(
        [
            ("rs1", "chr1", 100, "A", "G"),  # as in the panel
            ("rs2", "1", 200, "T", "C"),  # REF/ALT exchanged
            ("rs3", "2", 300, "T", "A"),  # A/T exchanged: on a forward-strand file, an exchange
            ("rs4", "2", 400, "T", "G"),  # A/C on the other strand (T/G)
            ("rs5", "3", 500, "C", "T"),  # C/G vs C/T: no reading fits
            ("rs8", "4", 800, "AT", "A"),  # an indel, exchanged
            ("rs9", "5", 900, "A", "G"),  # not in the panel
        ]
    )
    m = match_variants(PANEL, target, strand="forward")
    by_row = {int(r): (int(c), bool(f), bool(s)) for r, c, f, s in zip(m.rows, m.cols, m.flip, m.strand, strict=True)}
    assert by_row == {
        0: (0, False, False),
        1: (1, True, False),
        2: (2, True, False),
        3: (3, False, True),
        7: (5, True, False),
    }
    r = m.report
    assert (r.n_panel, r.n_matched, r.n_flipped, r.n_strand_flipped) == (8, 5, 3, 1)
    assert (r.n_absent, r.n_allele_mismatch, r.n_ambiguous_kept, r.n_ambiguous_dropped) == (2, 1, 1, 0)
    assert dict(zip(r.dropped["id"], r.dropped["reason"], strict=True)) == {
        "rs5": "allele mismatch",
        "rs6": "absent",
        "rs7": "absent",
    }
    assert r.summary().startswith("the genotypes: 5 of 8 variants matched (3 REF/ALT exchanged, 1 strand-flipped")


def test_unknown_strand_ambiguous_rules():
    target = _target([("rs3", "2", 300, "A", "T"), ("rs1", "1", 100, "A", "G")])
    dropped = match_variants(PANEL, target, strand="unknown")
    assert dropped.rows.tolist() == [0] and dropped.report.n_ambiguous_dropped == 1
    kept = match_variants(PANEL, target, strand="unknown", ambiguous="keep")
    assert sorted(kept.rows.tolist()) == [0, 2] and kept.report.n_ambiguous_kept == 1
    # By frequency: the panel's ALT (T) is rare (0.1); in the target, ALT T is common (0.85), so
    # the target is on the other strand and T there is the panel's A: dosage flipped.
    freq_panel = np.full(len(PANEL), np.nan)
    freq_panel[2] = 0.1
    m = match_variants(
        PANEL, target, strand="unknown", ambiguous="frequency", panel_freq=freq_panel, target_freq=np.array([0.85, 0.3])
    )
    j = m.rows.tolist().index(2)
    assert m.flip[j] and m.strand[j] and m.report.n_ambiguous_by_frequency == 1
    # Frequencies near 0.5 cannot tell the strand: dropped.
    m = match_variants(
        PANEL, target, strand="unknown", ambiguous="frequency", panel_freq=freq_panel, target_freq=np.array([0.55, 0.3])
    )
    assert 2 not in m.rows.tolist() and m.report.n_ambiguous_dropped == 1


def test_position_lookup_multiallelic_and_duplicates():
    target = _target(
        [
            (".", "chr2", 400, "A", "G"),  # multi-allelic site split in two: A/G does not fit rs4 ...
            (".", "chr2", 400, "A", "C"),  # ... A/C does
            ("rs1", "1", 100, "A", "G"),
            ("rs1", "1", 100, "A", "G"),  # the same variant twice
        ]
    )
    m = match_variants(PANEL, target)
    assert dict(zip(m.rows.tolist(), m.cols.tolist(), strict=True)) == {0: 2, 3: 1}
    assert m.report.n_by_position == 1 and m.report.n_multiallelic == 2


def test_on_panel_reorders_flips_and_keeps_the_training_layout():
    g = np.array([[0, 1, 2, -1], [2, 2, 0, 1]], dtype=np.int8)
    target = _target(
        [("rs2", "1", 200, "T", "C"), ("x", "9", 9, "A", "C"), ("rs1", "1", 100, "G", "A"), ("rs3", "2", 300, "A", "T")]
    )
    data = GenotypeData(np.array(["a", "b"]), g, target)
    out, report = on_panel(data, PANEL)
    assert out.variants["id"].tolist() == PANEL["id"].tolist()
    # rs1 exchanged (G/A): 2 - g; rs2 exchanged: 2 - g; rs3 as written; missing stays missing.
    expected = np.full((2, 8), -1, dtype=np.int8)
    expected[:, 0] = [0, 2]
    expected[:, 1] = [2, 0]
    expected[:, 2] = [-1, 1]
    np.testing.assert_array_equal(out.genotypes, expected)
    assert report.n_flipped == 2 and report.n_matched == 3
    same, rep = on_panel(out, PANEL)
    assert same is out and rep.n_matched == 8


def test_consumer_calls_without_ref_read_only_what_can_be_told():
    panel = pd.DataFrame({"id": ["a", "b", "c"], "ref": ["", "", ""], "alt": ["A", "A", "G"]})
    dosage, report = match_calls(
        panel,
        np.array(["a", "b", "c"]),
        np.array(["1", "1", "1"]),
        np.array([1, 2, 3]),
        np.array(["A", "T", "G"]),
        np.array(["G", "T", ""]),
    )
    # a: AG -> 1 A; b: TT could be A's complement on the other strand: dropped; c: haploid G: 2.
    assert dosage.tolist() == [1, -1, 2] and report.n_allele_mismatch == 1


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(GenofaceError, match="strand must be one of"):
        match_variants(PANEL, PANEL, strand="reverse")
    with pytest.raises(GenofaceError, match="ambiguous must be one of"):
        match_variants(PANEL, PANEL, ambiguous="guess")
    with pytest.raises(GenofaceError, match="needs columns id and alt"):
        match_variants(PANEL.drop(columns="alt"), PANEL)


def test_alt_frequencies_ignore_missing():
    g = np.array([[0, -1], [2, -1], [1, -1]], dtype=np.int8)
    f = alt_frequencies(g, chunk=1)
    assert f[0] == pytest.approx(0.5) and np.isnan(f[1])
