"""`genoface train` and `genoface predict` end to end, and their one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genoface.cli import app
from genoface.io import read_mesh, write_vcf

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(sim_realistic, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "oracle"
    result = runner.invoke(
        app, ["train", "--cohort", str(sim_realistic.cohort.path), "--model", "oracle", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _genotype_file(cohort) -> str:
    files = sorted(p for p in cohort.path.iterdir() if p.name.startswith("genotypes.") and p.suffix in (".gz", ".bed"))
    return str(files[0])


def test_predict_writes_a_mesh_and_a_render_per_person_and_age(sim_realistic, trained, tmp_path):
    cohort = sim_realistic.cohort
    sid = str(cohort.sample_ids[3])
    out = tmp_path / "pred"
    args = [
        "predict",
        "--model",
        str(trained),
        "--genotypes",
        _genotype_file(cohort),
        "--sample",
        sid,
        "--out",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--ages", "20,60"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"{sid}_age20.ply",
        f"{sid}_age20.png",
        f"{sid}_age60.ply",
        f"{sid}_age60.png",
    ]
    young, tri = read_mesh(out / f"{sid}_age20.ply")
    old, _ = read_mesh(out / f"{sid}_age60.ply")
    assert young.shape == (cohort.n_vertices, 3) and len(tri) == len(cohort.template_triangles)
    assert np.abs(old - young).max() > 0.5  # the face changes with age
    # Given the person's own covariates, the oracle's face is close to their simulated face.
    c = cohort.covariates.loc[sid]
    out2 = tmp_path / "pred2"
    own = [*args[:-1], str(out2), "--age", str(c["age"]), "--sex", c["sex"], "--bmi", str(c["bmi"])]
    assert runner.invoke(app, own).exit_code == 0
    face, _ = read_mesh(out2 / f"{sid}.ply")
    assert (
        np.linalg.norm(face - cohort.faces[3], axis=1).mean()
        < np.linalg.norm(young - cohort.faces[3], axis=1).mean() + 1.0
    )


def test_predict_errors_are_one_line_and_leave_nothing(sim_realistic, trained, tmp_path):
    cohort = sim_realistic.cohort
    geno = _genotype_file(cohort)
    out = tmp_path / "pred"
    r = runner.invoke(
        app, ["predict", "--model", str(trained), "--genotypes", geno, "--sample", "NOPE", "--out", str(out)]
    )
    assert r.exit_code == 1 and "no sample NOPE" in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists()
    # A genome file that shares no SNP with the model.
    other = tmp_path / "other.vcf.gz"
    variants = pd.DataFrame(
        {"chrom": ["1"] * 3, "pos": [5, 6, 7], "id": ["a", "b", "c"], "ref": ["A"] * 3, "alt": ["G"] * 3}
    )
    write_vcf(other, np.array(["x1", "x2"]), np.zeros((2, 3), dtype=np.int8), variants)
    r = runner.invoke(app, ["predict", "--model", str(trained), "--genotypes", str(other), "--out", str(out)])
    assert r.exit_code == 1 and "none of the oracle's causal SNPs" in r.output
    assert not out.exists()
    # A corrupt model directory.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.json").write_text("{")
    r = runner.invoke(app, ["predict", "--model", str(tmp_path / "bad"), "--genotypes", geno, "--out", str(out)])
    assert r.exit_code == 1 and "corrupt model configuration" in r.output


def test_train_unknown_model_is_one_line(sim_realistic, tmp_path):
    r = runner.invoke(
        app, ["train", "--cohort", str(sim_realistic.cohort.path), "--model", "nope", "--out", str(tmp_path / "m")]
    )
    assert r.exit_code == 1 and "unknown model 'nope'" in r.output
    assert not (tmp_path / "m").exists()
