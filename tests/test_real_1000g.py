"""Real genomes: genetic sex and continental ancestry for the 3,202 people of the 1000 Genomes
high-coverage release at 1,004 SNPs (../shared/data/1000g_tiny; men haploid on X), against
their recorded sex and super-population. Figures and commands: docs/validation.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genoface.cli import app
from genoface.genetics import genetic_sex
from genoface.io import read_genotypes, write_plink, write_vcf

TINY = Path(__file__).resolve().parents[2] / "shared" / "data" / "1000g_tiny"
pytestmark = pytest.mark.skipif(
    not (TINY / "tiny1000G.vcf.gz").is_file(), reason="needs ../shared/data/1000g_tiny (1000 Genomes, 1,004 SNPs)"
)
runner = CliRunner()

#: Women whose 36 X SNPs carry one heterozygous call where 9 to 13 are expected (P <= 1e-4 each
#: under Hardy-Weinberg at their super-population's frequencies; 0.1 such women expected among
#: 1,603): their X looks hemizygous, so genetic sex from X calls them male (docs/validation.md).
X_HOMOZYGOUS_WOMEN = {"HG03250", "NA19176", "NA19332", "NA20506"}
#: With the stated prior heterozygosity (one person's file alone), those four and three women
#: with 3 heterozygous calls of 36 stay below the 0.99 needed for a call.
SINGLE_FILE_UNKNOWN = X_HOMOZYGOUS_WOMEN | {"HG00652", "HG02891", "NA19712"}


@pytest.fixture(scope="module")
def tiny():
    data = read_genotypes(TINY / "tiny1000G.vcf.gz")
    psam = pd.read_csv(TINY / "ref.psam", sep="\t", index_col="#IID").loc[data.sample_ids]
    return data, psam


def test_sex_from_the_file_itself_matches_the_recorded_sex(tiny):
    """Many people: the file's own X frequencies and error rate (EM, no labels)."""
    data, psam = tiny
    assert (data.variants["chrom"] == "X").sum() == 36
    truth = np.where(psam["SEX"] == 1, "M", "F")
    sex = genetic_sex(data.genotypes, data.variants)
    assert "this file's own X allele frequencies" in sex["method"].iloc[0]
    differ = set(data.sample_ids[sex["call"].to_numpy() != truth])
    assert differ == X_HOMOZYGOUS_WOMEN
    assert (sex.loc[truth == "M", "p_male"] > 0.99).all() and (sex["n_x_het"][truth == "M"] == 0).all()
    assert (sex.set_index(data.sample_ids).loc[sorted(X_HOMOZYGOUS_WOMEN), "n_x_het"] == 1).all()


def test_sex_of_each_person_alone(tiny, tmp_path):
    """One person per file: the stated prior heterozygosity; no call is wrong, seven are unknown."""
    data, psam = tiny
    truth = np.where(psam["SEX"] == 1, "M", "F")
    sex = genetic_sex(data.genotypes, data.variants, min_people=data.n_samples + 1)  # as if each were alone
    assert "prior heterozygosity 0.2" in sex["method"].iloc[0]
    call = sex["call"].to_numpy()
    assert not ((call != truth) & (call != "unknown")).any()
    assert set(data.sample_ids[call == "unknown"]) == SINGLE_FILE_UNKNOWN
    # The same through `genoface traits` on a real one-person VCF (a man coded haploid on X).
    for sid in ("HG00096", "HG00097"):
        i = int(np.flatnonzero(data.sample_ids == sid)[0])
        man = psam.loc[sid, "SEX"] == 1
        path = tmp_path / f"{sid}.vcf.gz"
        write_vcf(path, data.sample_ids[[i]], data.genotypes[[i]], data.variants, haploid=np.array([man]))
        result = runner.invoke(app, ["traits", "--genotypes", str(path), "--json"])
        assert result.exit_code == 0, result.output
        person = json.loads(result.output)["people"][0]
        assert person["sex_call"]["call"] == ("M" if man else "F") and person["sex_call"]["n_x_snps"] == 36
        np.testing.assert_allclose(person["sex"]["M"], sex["p_male"].iloc[i], rtol=1e-9)


def test_sex_unknown_with_too_few_x_snps(tiny):
    data, _ = tiny
    keep = np.flatnonzero((data.variants["chrom"] != "X").to_numpy() | (np.arange(data.n_variants) % 4 == 0))
    few = data.variants.iloc[keep].reset_index(drop=True)
    assert (few["chrom"] == "X").sum() == 9
    sex = genetic_sex(data.genotypes[:20, keep], few)
    assert (sex["call"] == "unknown").all() and (sex["p_male"] == 0.5).all()
    assert sex["method"].str.contains("fewer than 10 called X SNPs").all()


def test_ancestry_from_a_reference_half(tiny, tmp_path):
    """`genoface traits --reference` trained on a seeded half, scored on the other half."""
    data, psam = tiny
    order = np.random.default_rng(0).permutation(data.n_samples)
    ref, target = data.take(order[: data.n_samples // 2]), data.take(order[data.n_samples // 2 :])
    write_plink(tmp_path / "ref", ref.sample_ids, ref.genotypes, ref.variants)
    write_plink(tmp_path / "target", target.sample_ids, target.genotypes, target.variants)
    labels = tmp_path / "labels.tsv"
    psam.loc[ref.sample_ids, ["SuperPop"]].rename(columns={"SuperPop": "population"}).rename_axis("sample_id").to_csv(
        labels, sep="\t"
    )
    args = ["traits", "--genotypes", str(tmp_path / "target.bed"), "--reference", str(tmp_path / "ref.bed")]
    result = runner.invoke(app, [*args, "--reference-labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    people = json.loads(result.output)["people"]
    called = np.array([p["ancestry"]["population"] for p in people])
    truth = psam.loc[[p["sample_id"] for p in people], "SuperPop"].to_numpy()
    accuracy = float(np.mean(called == truth))
    print(f"ancestry: {accuracy:.4f} of {len(truth)} held-out people right")  # docs/validation.md
    assert accuracy >= 0.95
