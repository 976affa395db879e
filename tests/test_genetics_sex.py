"""Genetic sex from X homozygosity: against a slow reference, simulated truth and plink2."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import check_sex, x_inbreeding
from genoface.io.genotypes import write_plink


@pytest.fixture(scope="module")
def one_population():
    """300 CEU with a 15 Mb X: enough independent X loci for F to be measured well."""
    from genoface.simulate import GeneticArchitecture, GenomeLayout, Preset, simulate

    preset = Preset(
        "sex",
        "test",
        {"CEU": 300},
        GenomeLayout(contig_lengths=(200_000,), x_length=15_000_000),
        {"genetic": 0.1},
        architecture=GeneticArchitecture(n_regional_loci=2, n_background_snps=2),
    )
    return simulate(preset, seed=4).cohort


def _f_reference(g: np.ndarray, is_male: np.ndarray | None) -> np.ndarray:
    """plink's F, one sample and one variant at a time."""
    n, m = g.shape
    p = np.empty(m)
    for j in range(m):
        alt = tot = 0.0
        for i in range(n):
            if g[i, j] < 0:
                continue
            if is_male is not None and is_male[i]:
                if g[i, j] == 1:
                    continue
                alt, tot = alt + g[i, j] / 2, tot + 1
            else:
                alt, tot = alt + g[i, j], tot + 2
        p[j] = alt / tot
    f = np.empty(n)
    for i in range(n):
        obs = exp = called = 0.0
        for j in range(m):
            if g[i, j] < 0 or p[j] in (0.0, 1.0):
                continue
            called += 1
            obs += g[i, j] != 1
            exp += 1 - 2 * p[j] * (1 - p[j])
        f[i] = (obs - exp) / (called - exp)
    return f


def test_x_inbreeding_matches_a_slow_reference():
    rng = np.random.default_rng(0)
    n, m = 30, 25
    male = rng.random(n) < 0.5
    g = rng.binomial(2, rng.uniform(0.05, 0.6, m), size=(n, m)).astype(np.int8)
    g[male] = 2 * rng.binomial(1, 0.3, size=(male.sum(), m))
    g[rng.random((n, m)) < 0.1] = -1
    g[:, 3] = 0  # monomorphic: left out
    cols = np.arange(m)
    for is_male in (None, male):
        f, called = x_inbreeding(g, cols, is_male=is_male, chunk=7)
        np.testing.assert_allclose(f, _f_reference(g, is_male), rtol=1e-12)
        np.testing.assert_array_equal(called, ((g >= 0) & (np.arange(m) != 3)).sum(1))


def test_inferred_sex_is_the_simulated_sex(one_population):
    c = one_population
    sex = c.covariates["sex"].to_numpy()
    result = check_sex(c.genotypes, c.variants, reported_sex=sex)
    assert list(result.columns) == ["f", "n_x", "y_count", "inferred_sex", "status"]
    np.testing.assert_array_equal(result["inferred_sex"], sex)
    assert (result["status"] == "OK").all() and (result["y_count"] == -1).all()
    assert (result.loc[sex == "M", "f"] == 1.0).all()  # hemizygous: no heterozygous call
    assert result.loc[sex == "F", "f"].max() < 0.2 and abs(result.loc[sex == "F", "f"].mean()) < 0.05
    # Without reported sex the men count as diploid in the frequencies: the calls are the same.
    np.testing.assert_array_equal(check_sex(c.genotypes, c.variants)["inferred_sex"], sex)


def test_several_populations_need_group_frequencies(genetics_cohort):
    c = genetics_cohort
    sex = c.covariates["sex"].to_numpy()
    pooled = check_sex(c.genotypes, c.variants)
    grouped = check_sex(c.genotypes, c.variants, groups=c.covariates["population"].to_numpy())
    for result in (pooled, grouped):  # (a 2 Mb X is too short to call every woman)
        assert (result.loc[sex == "M", "inferred_sex"] == "M").all()
    # Pooled frequencies raise women's F (Wahlund effect); frequencies within populations do not.
    assert pooled.loc[sex == "F", "f"].mean() > grouped.loc[sex == "F", "f"].mean() + 0.05
    assert abs(grouped.loc[sex == "F", "f"].mean()) < 0.05


def test_chromosome_names_y_calls_and_errors():
    rng = np.random.default_rng(1)
    n = 40
    male = np.arange(n) < 20
    x = rng.binomial(2, 0.4, size=(n, 60)).astype(np.int8)
    x[male] = 2 * rng.binomial(1, 0.4, size=(20, 60))
    y = np.where(male[:, None], 0, -1).astype(np.int8) * np.ones((1, 3), dtype=np.int8)
    g = np.hstack([x, y])
    variants = pd.DataFrame({"chrom": ["23"] * 30 + ["chrX"] * 30 + ["24", "Y", "chrY"], "id": np.arange(63)})
    result = check_sex(g, variants)
    np.testing.assert_array_equal(result["inferred_sex"], np.where(male, "M", "F"))
    np.testing.assert_array_equal(result["y_count"], np.where(male, 3, 0))
    np.testing.assert_array_equal(result["n_x"], 60)
    with pytest.raises(GenofaceError, match="no chromosome X variants among the 3"):
        check_sex(g[:, 60:], variants.iloc[60:])
    with pytest.raises(GenofaceError, match="female_max_f=0.9, male_min_f=0.8"):
        check_sex(g, variants, female_max_f=0.9)
    with pytest.raises(GenofaceError, match="reported_sex has shape"):
        check_sex(g, variants, reported_sex=["F"])


def _plink2_has_check_sex() -> bool:
    if shutil.which("plink2") is None:
        return False
    out = subprocess.run(["plink2", "--help", "check-sex"], capture_output=True, text=True)
    return "No help entry" not in out.stdout + out.stderr


@pytest.mark.skipif(
    not _plink2_has_check_sex(),
    reason="needs a plink2 with --check-sex (the plink2 installed, e.g. Debian's 2.00a3.5, has none)",
)
def test_f_against_plink2(one_population, tmp_path):
    c = one_population
    sex = c.covariates["sex"].to_numpy()
    write_plink(tmp_path / "x", c.sample_ids, c.genotypes, c.variants, sex=sex)
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "x"), "--check-sex", "--out", str(tmp_path / "y")],
        check=True, capture_output=True,
    )  # fmt: skip
    theirs = pd.read_csv(tmp_path / "y.sexcheck", sep=r"\s+")
    theirs = theirs.set_index("IID" if "IID" in theirs.columns else "#IID").loc[c.sample_ids]
    ours = check_sex(c.genotypes, c.variants, reported_sex=sex)
    np.testing.assert_allclose(ours["f"].to_numpy(), theirs["F"].to_numpy(), atol=1e-4)
