"""Genetic sex without a trained model (genoface.traits.genetic_sex): the likelihood ratio by hand
for one person, too few X SNPs, pseudo-autosomal SNPs left out, a file's own frequencies and
error rate (EM) with calibrated probabilities, and a 23andMe file through `genoface traits`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from genoface.cli import app
from genoface.genetics import SexPredictor, genetic_sex

runner = CliRunner()


def _variants(n_x: int, n_y: int = 0, n_auto: int = 5, n_par: int = 0) -> pd.DataFrame:
    chrom = ["1"] * n_auto + ["X"] * n_x + ["Y"] * n_y + ["XY"] * n_par
    return pd.DataFrame(
        {
            "chrom": chrom,
            "pos": 3_000_000 + 1000 * np.arange(len(chrom)),
            "id": [f"s{i}" for i in range(len(chrom))],
            "ref": "A",
            "alt": "G",
        }
    )


def test_one_person_by_hand():
    """Prior heterozygosity H = 0.2, error e = 0.01: each homozygous X call adds
    log(0.99 / 0.8), each heterozygous one log(0.01 / 0.2)."""
    v = _variants(40)
    g = np.zeros((3, 45), dtype=np.int8)
    g[0, 5:] = 2 * (np.arange(40) % 2)  # a man: hemizygous
    g[1, 5:13] = 1  # a woman: 8 heterozygous calls of 40
    g[2, 5:7] = 1  # 2 of 40: not enough to call
    sex = genetic_sex(g, v, min_people=10)
    hom, het = np.log(0.99 / 0.8), np.log(0.01 / 0.2)
    np.testing.assert_allclose(sex["p_male"], expit([40 * hom, 32 * hom + 8 * het, 38 * hom + 2 * het]), rtol=1e-9)
    assert sex["call"].tolist() == ["M", "F", "unknown"]
    assert sex["n_x"].tolist() == [40] * 3 and sex["n_x_het"].tolist() == [0, 8, 2]
    assert "prior heterozygosity 0.2" in sex["method"].iloc[0]


def test_y_counts_as_one_observation_and_too_few_x_is_unknown():
    v = _variants(n_x=4, n_y=30)
    g = np.zeros((2, len(v)), dtype=np.int8)
    g[1, 9:] = -1  # the second person has no Y calls
    sex = genetic_sex(g, v)
    # Y: log(0.99 / 0.01) averaged over 30 SNPs is one log(99); X: 4 homozygous calls.
    x = 4 * np.log(0.99 / 0.8)
    np.testing.assert_allclose(sex["log_lr"], [np.log(99) + x, -np.log(99) + x])
    no_y = _variants(n_x=4)
    few = genetic_sex(np.zeros((2, len(no_y)), dtype=np.int8), no_y)
    assert (few["call"] == "unknown").all() and (few["p_male"] == 0.5).all()
    assert genetic_sex(np.zeros((2, 5), dtype=np.int8), _variants(0)) is None  # no X, no Y: no sex at all


def test_pseudo_autosomal_snps_are_left_out():
    v = _variants(n_x=30, n_par=20)
    g = np.zeros((1, len(v)), dtype=np.int8)
    g[0, 35:] = 1  # a man is diploid, and often heterozygous, in the PARs
    sex = genetic_sex(g, v)
    assert sex["call"].iloc[0] == "M" and sex["n_x"].iloc[0] == 30


def _simulate(n: int, k: int, error: float, seed: int) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """n people (half men, hemizygous with heterozygous errors at ``error``), k X SNPs."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, k)
    male = rng.random(n) < 0.5
    women = (rng.random((n, k)) < p).astype(np.int8) + (rng.random((n, k)) < p)
    men = 2 * (rng.random((n, k)) < p).astype(np.int8)
    men = np.where(rng.random((n, k)) < error, 1, men)
    g = np.where(male[:, None], men, women).astype(np.int8)
    g[rng.random((n, k)) < 0.02] = -1
    return np.column_stack([np.zeros((n, 5), dtype=np.int8), g]), _variants(k), male


def test_many_people_learn_their_own_frequencies_and_error_rate():
    g, v, male = _simulate(3000, 12, error=0.005, seed=1)
    sex = genetic_sex(g, v)
    assert "own X allele frequencies" in sex["method"].iloc[0]
    learnt = float(sex["method"].iloc[0].split("genotyping error ")[1].split()[0])
    assert 0.002 < learnt < 0.01
    # Calibrated: in each band of P(male) holding 200+ people, the share of men is the mean P
    # within sampling error (12 SNPs leave many people in between).
    p = sex["p_male"].to_numpy()
    bands = np.minimum((p * 10).astype(int), 9)
    checked = 0
    for b in range(10):
        inside = bands == b
        if inside.sum() >= 200:
            se = np.sqrt(max(p[inside].mean() * (1 - p[inside].mean()), 0.01) / inside.sum())
            assert abs(male[inside].mean() - p[inside].mean()) < 4 * se, b
            checked += 1
    assert checked >= 2
    called = sex["call"] != "unknown"
    assert ((sex["call"] == "M") == male)[called].mean() > 0.99


def test_old_saved_predictors_still_load():
    g, v, male = _simulate(200, 50, error=0.0, seed=2)
    arrays = SexPredictor().fit(g, v, is_male=male).to_arrays()
    assert arrays["zygosity"] == 0
    del arrays["zygosity"]  # written before the option existed
    assert SexPredictor.from_arrays(arrays).zygosity is False


def test_a_23andme_file_out_of_the_box(tmp_path):
    """Men's X calls are one letter in 23andMe files; X SNPs in the GRCh37 PARs are left out."""
    rng = np.random.default_rng(3)
    for name, man in (("him", True), ("her", False)):
        rows = [f"rs{i}\t1\t{1000 * i}\tAG\n" for i in range(1, 6)]
        for i in range(40):
            a, b = rng.choice(list("AG"), 2)
            call = a if man else (a + b if i % 3 else "AG")
            rows.append(f"rs{100 + i}\tX\t{5_000_000 + 1000 * i}\t{call}\n")
        rows += [f"rs{200 + i}\tX\t{100_000 + 1000 * i}\tAG\n" for i in range(20)]  # PAR1: diploid in men
        rows += [f"rs{300 + i}\tY\t{3_000_000 + i}\t{'C' if man else '--'}\n" for i in range(10)]
        path = tmp_path / f"{name}.txt"
        path.write_text("# rsid\tchromosome\tposition\tgenotype\n" + "".join(rows))
        result = runner.invoke(app, ["traits", "--genotypes", str(path), "--json"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        person = out["people"][0]
        assert person["sample_id"] == name and person["sex_call"]["call"] == ("M" if man else "F")
        assert person["sex_call"]["n_x_snps"] == 40 and person["sex_call"]["n_y_snps"] == 10
        assert any("published pigmentation models not applied" in n for n in out["notes"])


@pytest.mark.parametrize("bad", [0.5, 1.0])
def test_bad_confidence_is_refused(bad):
    from genoface.core.errors import GenofaceError

    with pytest.raises(GenofaceError, match="confidence must be in"):
        genetic_sex(np.zeros((1, 45), dtype=np.int8), _variants(40), confidence=bad)
