"""Files whose REF/ALT are the other way round, whose chromosomes are named chr1 / 23, and whose
variants come in another order predict what the training layout predicts: for every registered
model, for the trait predictor, and through the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import FAST_PARAMS
from genoface.cohort import Cohort
from genoface.io import read_genotypes, write_plink, write_vcf
from genoface.io.genotypes import GenotypeData
from genoface.models import FaceModel, available_models, make_model
from genoface.traits import TraitPredictor


@pytest.fixture(scope="module")
def split(sim_strong) -> tuple[Cohort, Cohort]:
    cohort = Cohort.load(sim_strong.cohort.path)
    small = cohort.subset(np.arange(450))
    return small.split(0.2, seed=0)


def _exchanged(data) -> tuple[np.ndarray, pd.DataFrame]:
    """Genotypes and variants with REF and ALT exchanged (dosages recoded to match), in reverse
    variant order."""
    g = np.asarray(data.genotypes)
    swapped = np.where(g < 0, -1, 2 - g).astype(np.int8)[:, ::-1]
    v = data.variants.rename(columns={"ref": "alt", "alt": "ref"})[["chrom", "pos", "id", "ref", "alt"]]
    return np.ascontiguousarray(swapped), v.iloc[::-1].reset_index(drop=True)


def _vcf_with_chr_prefix(data, path) -> GenotypeData:
    g, v = _exchanged(data)
    write_vcf(path, data.sample_ids, g, v.assign(chrom="chr" + v["chrom"]))
    return read_genotypes(path)


def _plink_with_x_as_23(data, prefix) -> GenotypeData:
    g, v = _exchanged(data)
    write_plink(prefix, data.sample_ids, g, v.assign(chrom=v["chrom"].replace({"X": "23"})))
    return read_genotypes(f"{prefix}.bed")


@pytest.mark.parametrize("name", available_models())
def test_every_model_reads_exchanged_alleles(name, split, tmp_path):
    train, test = split
    model = make_model(name, **FAST_PARAMS.get(name, {})).fit(train)
    expected = model.predict(test)
    vcf = _vcf_with_chr_prefix(test, tmp_path / "x.vcf.gz")
    bed = _plink_with_x_as_23(test, tmp_path / "x")
    assert vcf.variants["ref"].iloc[-1] == test.variants["alt"].iloc[0]  # really exchanged
    for data in (vcf, bed):
        np.testing.assert_allclose(model.predict(data), expected, rtol=0, atol=1e-9)
    if name in ("lippert", "demographic"):  # matching scores too, for the likelihood models
        faces = np.asarray(test.faces[:20], dtype=np.float64)
        np.testing.assert_allclose(
            model.score_matrix(vcf, faces), model.score_matrix(test, faces), rtol=1e-12, atol=1e-9
        )


def test_trait_predictor_reads_exchanged_alleles(split, tmp_path):
    train, test = split
    predictor = TraitPredictor().fit(train)
    expected = predictor.predict_bases(test)
    got = predictor.predict_bases(_plink_with_x_as_23(test, tmp_path / "t"))
    for basis in expected:
        np.testing.assert_allclose(got[basis].p_male, expected[basis].p_male, atol=1e-12)
        for trait, p in expected[basis].categorical.items():
            np.testing.assert_allclose(got[basis].categorical[trait], p, atol=1e-12)
        for trait, q in expected[basis].quantitative.items():
            np.testing.assert_allclose(np.asarray(got[basis].quantitative[trait]), np.asarray(q), atol=1e-9)


def test_predict_command_prints_the_match_and_writes_the_same_face(split, tmp_path):
    from typer.testing import CliRunner

    from genoface.cli import app
    from genoface.io import read_mesh

    train, test = split
    make_model("lippert").fit(train).save(tmp_path / "model")
    one = test.subset([0])
    plain = tmp_path / "plain.vcf.gz"
    write_vcf(plain, one.sample_ids, np.asarray(one.genotypes), one.variants)
    _vcf_with_chr_prefix(one, tmp_path / "swapped.vcf.gz")
    runner = CliRunner()
    outs = {}
    for name in ("plain", "swapped"):
        result = runner.invoke(
            app,
            ["predict", "--model", str(tmp_path / "model"), "--genotypes", str(tmp_path / f"{name}.vcf.gz"),
             "--out", str(tmp_path / f"out_{name}")],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outs[name] = result.output
        sid = one.sample_ids[0]
        outs[name + "_face"] = read_mesh(tmp_path / f"out_{name}" / f"{sid}.ply")[0]
    n = test.n_variants
    assert f"{n:,} of {n:,} variants matched" in outs["plain"].replace("\n", " ")
    assert f"{n:,} REF/ALT exchanged" in outs["swapped"].replace("\n", " ")
    np.testing.assert_allclose(outs["swapped_face"], outs["plain_face"], atol=1e-4)
    assert isinstance(FaceModel.load(tmp_path / "model").panel_["af"].to_numpy()[0], float)
