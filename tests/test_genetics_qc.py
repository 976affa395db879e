"""Variant and sample QC against hand-computed cases, a slow exact reference and plink2."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from math import factorial

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import hwe_exact_p, sample_call_rate, standardize, variant_qc, variant_stats
from genoface.io.genotypes import write_plink


def _hwe_reference(het: int, hom1: int, hom2: int) -> float:
    """Exact test by enumeration in rational arithmetic (Levene's formula)."""
    n = het + hom1 + hom2
    n_a = 2 * hom1 + het
    n_b = 2 * n - n_a

    def prob(k: int) -> Fraction:
        aa, bb = (n_a - k) // 2, (n_b - k) // 2
        num = factorial(n) * factorial(n_a) * factorial(n_b) * 2**k
        return Fraction(num, factorial(aa) * factorial(k) * factorial(bb) * factorial(2 * n))

    ks = [k for k in range(n_a % 2, min(n_a, n_b) + 1, 2)]
    probs = {k: prob(k) for k in ks}
    assert sum(probs.values()) == 1
    return float(sum(p for p in probs.values() if p <= probs[het]))


def test_hwe_exact_p_hand_computed():
    # Two people, one of each homozygote: P(0 het) = 1/3, P(2 het) = 2/3.
    assert hwe_exact_p(0, 1, 1) == pytest.approx(1 / 3)
    assert hwe_exact_p(2, 0, 0) == pytest.approx(1.0)
    # Three people AA, AA, BB: P(0 het) = 0.5 / 2.5.
    assert hwe_exact_p(0, 2, 1) == pytest.approx(0.2)
    assert hwe_exact_p(0, 5, 0) == 1.0 and hwe_exact_p(0, 0, 0) == 1.0
    assert hwe_exact_p(3, 10, 7) == hwe_exact_p(3, 7, 10)


def test_hwe_exact_p_matches_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(200):
        het, hom1, hom2 = (int(v) for v in rng.integers(0, 25, size=3))
        assert hwe_exact_p(het, hom1, hom2) == pytest.approx(_hwe_reference(het, hom1, hom2), rel=1e-9)
    with pytest.raises(GenofaceError, match="-1"):
        hwe_exact_p(-1, 2, 3)


def test_x_frequency_counts_one_copy_per_man_and_hwe_uses_women():
    # Variant 0 autosomal, variant 1 on X; samples: two women (1, 2), two men (2 = one ALT copy, 0).
    g = np.array([[1, 1], [2, 2], [0, 2], [1, 0]], dtype=np.int8)
    male = np.array([False, False, True, True])
    s = variant_stats(g, is_x=np.array([False, True]), is_male=male)
    assert s.loc[0, "alt_freq"] == pytest.approx(4 / 8)
    assert s.loc[1, "alt_freq"] == pytest.approx((1 + 2 + 1 + 0) / (2 + 2 + 1 + 1))
    assert s.loc[1, "hwe_p"] == pytest.approx(hwe_exact_p(1, 0, 1))
    assert s.loc[0, "n_het"] == 2 and s.loc[0, "call_rate"] == 1.0


def test_stats_are_the_same_in_any_chunking_and_on_a_memmap(genetics_cohort, tmp_path):
    c = genetics_cohort
    is_x = c.variants["chrom"].to_numpy() == "X"
    male = c.covariates["sex"].to_numpy() == "M"
    g = c.genotypes.copy()
    g[np.random.default_rng(1).random(g.shape) < 0.03] = -1
    np.save(tmp_path / "g.npy", g)
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    a = variant_stats(g, is_x=is_x, is_male=male)
    b = variant_stats(mm, is_x=is_x, is_male=male, chunk=777)
    pd.testing.assert_frame_equal(a, b)
    assert a["call_rate"].between(0.9, 1).all() and (a["maf"] <= 0.5).all()
    np.testing.assert_allclose(sample_call_rate(mm, chunk=500), (g >= 0).mean(1))


def test_variant_qc_counts_each_filter():
    g = np.zeros((100, 4), dtype=np.int8)
    g[:80, 0] = 1  # common, but every carrier heterozygous: fails HWE
    g[:1, 1] = 1  # MAF 0.005
    g[:10, 2] = -1  # call rate 0.9
    g[10:40, 2] = 1
    g[:25, 3], g[25:75, 3] = 2, 1  # perfect HWE at p = 0.5
    keep, summary = variant_qc(g)
    assert keep.tolist() == [False, False, False, True]
    assert summary == {"n_variants": 4, "call_rate": 1, "maf": 1, "hwe": 1, "n_kept": 1}
    with pytest.raises(GenofaceError, match="min_maf must be in"):
        variant_qc(g, min_maf=2)


def test_standardize():
    g = np.array([[0, 1, 2], [2, -1, 2], [1, 1, 2]], dtype=np.int8)
    p = np.array([0.5, 0.5, 1.0])
    z = standardize(g, p)
    assert z.dtype == np.float32
    s = np.sqrt(0.5)
    np.testing.assert_allclose(z, [[-1 / s, 0, 0], [1 / s, 0, 0], [0, 0, 0]], rtol=1e-6)
    with pytest.raises(GenofaceError, match="alt_freq has shape"):
        standardize(g, p[:2])


def test_degenerate_input_is_refused():
    with pytest.raises(GenofaceError, match="0 x 3"):
        variant_stats(np.zeros((0, 3), dtype=np.int8))
    with pytest.raises(GenofaceError, match="is_male has shape"):
        variant_stats(np.zeros((4, 3), dtype=np.int8), is_x=np.ones(3, bool), is_male=np.ones(2, bool))


def _six_digits(x: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.6g}") for v in x])


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (make test installs Debian's)")
def test_against_plink2(genetics_cohort, tmp_path):
    c = genetics_cohort
    g = c.genotypes.copy()
    g[np.random.default_rng(2).random(g.shape) < 0.02] = -1
    sex = c.covariates["sex"].to_numpy()
    write_plink(tmp_path / "x", c.sample_ids, g, c.variants, sex=sex)
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "x"), "--freq", "--missing", "--hardy", "cols=+femalep",
         "--out", str(tmp_path / "y")],
        check=True, capture_output=True,
    )  # fmt: skip
    ours = variant_stats(g, is_x=c.variants["chrom"].to_numpy() == "X", is_male=sex == "M")
    ours.index = c.variants["id"].to_numpy()
    freq = pd.read_csv(tmp_path / "y.afreq", sep="\t")
    vmiss = pd.read_csv(tmp_path / "y.vmiss", sep="\t")
    hardy = pd.read_csv(tmp_path / "y.hardy", sep="\t")
    hardy_x = pd.read_csv(tmp_path / "y.hardy.x", sep="\t")
    assert len(freq) == len(vmiss) == len(ours) and len(hardy) + len(hardy_x) == len(ours)
    assert len(hardy_x) > 100
    # plink2 prints 6 significant digits: compare ours rounded the same way.
    for col, table, theirs in (
        ("alt_freq", freq, freq["ALT_FREQS"]),
        ("call_rate", vmiss, 1 - vmiss["F_MISS"]),
        ("hwe_p", hardy, hardy["P"]),
        ("hwe_p", hardy_x, hardy_x["FEMALE_ONLY_P"]),
    ):
        mine = ours.loc[table["ID"], col].to_numpy()
        expected = theirs.to_numpy() if col != "call_rate" else mine
        if col == "call_rate":  # F_MISS is printed rounded: compare the missing share
            np.testing.assert_allclose(_six_digits(1 - mine), vmiss["F_MISS"].to_numpy(), rtol=1e-6, atol=1e-12)
            continue
        np.testing.assert_allclose(_six_digits(mine), expected, rtol=1e-6, err_msg=col)
