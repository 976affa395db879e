"""`genoface train`, `genoface predict` and `genoface match` end to end, and their one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from typer.testing import CliRunner

from conftest import write_23andme
from genoface.cli import app
from genoface.io import GenotypeData, read_mesh, write_mesh, write_vcf
from genoface.models import FaceModel

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(sim_strong, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "oracle"
    result = runner.invoke(
        app, ["train", "--cohort", str(sim_strong.cohort.path), "--model", "oracle", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _genotype_file(cohort) -> str:
    files = sorted(p for p in cohort.path.iterdir() if p.name.startswith("genotypes.") and p.suffix in (".gz", ".bed"))
    return str(files[0])


def test_predict_writes_a_mesh_and_a_render_per_person_and_age(sim_strong, trained, tmp_path):
    cohort = sim_strong.cohort
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


def test_predict_errors_are_one_line_and_leave_nothing(sim_strong, trained, tmp_path):
    cohort = sim_strong.cohort
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
    assert r.exit_code == 1 and "none of the model's" in r.output and "could be read" in r.output
    assert not out.exists()
    # A corrupt model directory.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.json").write_text("{")
    r = runner.invoke(app, ["predict", "--model", str(tmp_path / "bad"), "--genotypes", geno, "--out", str(out)])
    assert r.exit_code == 1 and "corrupt model configuration" in r.output


def test_train_unknown_model_is_one_line(sim_strong, tmp_path):
    r = runner.invoke(
        app, ["train", "--cohort", str(sim_strong.cohort.path), "--model", "nope", "--out", str(tmp_path / "m")]
    )
    assert r.exit_code == 1 and "unknown model 'nope'" in r.output
    assert not (tmp_path / "m").exists()


def test_predict_from_a_23andme_file(sim_strong, trained, tmp_path):
    """A consumer file is read against the model's training variants: the face equals the one
    predicted from the same person's calls with unreadable ones missing (absent lines, and A/T
    or C/G calls, whose strand a raw-data file does not state)."""
    cohort = sim_strong.cohort
    row = 5
    keep = np.random.default_rng(0).random(cohort.n_variants) < 0.8
    raw = tmp_path / "person.txt"
    write_23andme(raw, cohort, row, keep)
    out = tmp_path / "pred"
    r = runner.invoke(app, ["predict", "--model", str(trained), "--genotypes", str(raw), "--out", str(out)])
    assert r.exit_code == 0, r.output
    v = cohort.variants
    g = np.asarray(cohort.genotypes[row], dtype=np.int8).copy()
    ambiguous = (v["ref"] + v["alt"]).isin(["AT", "TA", "CG", "GC"]).to_numpy()
    g[~keep | ambiguous] = -1
    said = " ".join(r.output.split())
    assert f"{int((g >= 0).sum()):,} of {cohort.n_variants:,} variants matched" in said
    assert f"{int((ambiguous & keep).sum()):,} A/T or C/G dropped" in said
    model = FaceModel.load(trained)
    expected = model.predict(GenotypeData(np.array(["person"]), g[None, :], v))[0]
    face, _ = read_mesh(out / "person.ply")
    np.testing.assert_allclose(face, expected, atol=1e-4)


def test_match_ranks_every_face_and_finds_its_own(sim_strong, trained, tmp_path):
    cohort = sim_strong.cohort
    test = cohort.subset(np.arange(40))
    geno = tmp_path / "test.vcf.gz"
    write_vcf(geno, test.sample_ids, test.genotypes, test.variants)
    faces = tmp_path / "faces"
    faces.mkdir()
    for sid, face in zip(test.sample_ids, test.faces, strict=True):
        write_mesh(faces / f"{sid}.ply", face, test.template_triangles)
    out = tmp_path / "ranks.tsv"
    r = runner.invoke(
        app, ["match", "--model", str(trained), "--genotypes", str(geno), "--faces", str(faces), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out, sep="\t", dtype={"genome": str, "face": str})
    assert list(table.columns) == ["genome", "face", "score", "rank"] and len(table) == 40 * 40
    scores = FaceModel.load(trained).score_matrix(test, test.faces)
    first = table[table["genome"] == test.sample_ids[0]]
    assert first["face"].iloc[0] == test.sample_ids[int(np.argmax(scores[0]))]
    assert first["score"].is_monotonic_decreasing and first["rank"].iloc[0] == 1
    own = table[table["genome"] == table["face"]]["rank"].to_numpy()
    assert f"top1 {(own == 1).mean():.3f}" in r.output
    assert (own == 1).mean() > 0.2  # the oracle finds most people's own face (chance: 1/40)
    top = tmp_path / "top3.tsv"
    args = ["match", "--model", str(trained), "--genotypes", str(geno), "--faces", str(faces), "--out", str(top)]
    r = runner.invoke(app, [*args, "--top", "3"])
    assert r.exit_code == 0, r.output
    assert (pd.read_csv(top, sep="\t").groupby("genome").size() == 3).all()
    assert f"median rank {np.median(own):g} of 40" in r.output  # own ranks known beyond the top 3
    # --assign: one distinct face per genome, the Hungarian optimum of the summed scores, kept even
    # outside the top 1.
    assigned_out = tmp_path / "assigned.tsv"
    args[-1] = str(assigned_out)
    r = runner.invoke(app, [*args, "--top", "1", "--assign"])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(assigned_out, sep="\t", dtype={"genome": str, "face": str})
    chosen = table[table["assigned"] == 1]
    assert len(chosen) == 40 and chosen["face"].is_unique and chosen["genome"].is_unique
    assert (table[table["assigned"] == 0]["rank"] == 1).all()
    rows, cols = linear_sum_assignment(scores, maximize=True)
    position = {sid: i for i, sid in enumerate(test.sample_ids)}
    total = sum(scores[position[g], position[f]] for g, f in zip(chosen["genome"], chosen["face"], strict=True))
    assert total == pytest.approx(scores[rows, cols].sum(), rel=1e-6)
    hits = (chosen["genome"] == chosen["face"]).mean()
    assert f"top1 assigned {hits:.3f}" in r.output


def test_match_errors_are_one_line_and_leave_nothing(sim_strong, trained, tmp_path):
    cohort = sim_strong.cohort
    faces = tmp_path / "faces"
    faces.mkdir()
    write_mesh(faces / "a.ply", np.zeros((10, 3)), np.array([[0, 1, 2]]))
    write_mesh(faces / "b.ply", np.zeros((10, 3)), np.array([[0, 1, 2]]))
    out = tmp_path / "ranks.tsv"
    args = ["match", "--model", str(trained), "--genotypes", _genotype_file(cohort), "--out", str(out)]
    r = runner.invoke(app, [*args, "--faces", str(faces)])
    assert r.exit_code == 1 and "trained on a" in r.output and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, [*args, "--faces", str(tmp_path / "empty")])
    assert r.exit_code == 1 and "not a folder" in r.output
    assert not out.exists() and not list(tmp_path.glob(".ranks.tsv*"))


def test_train_sets_hyper_parameters(sim_strong, tmp_path):
    base = ["train", "--cohort", str(sim_strong.cohort.path), "--model", "lippert"]
    r = runner.invoke(app, [*base, "--set", "n_snps=12", "--set", "n_pcs=3", "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    model = FaceModel.load(tmp_path / "m")
    assert model.n_snps == 12 and model.n_pcs == 3 and len(model.snps_) <= 12
    r = runner.invoke(app, [*base, "--set", "n_snps", "--out", str(tmp_path / "m2")])
    assert r.exit_code == 1 and "write KEY=VALUE" in r.output
    r = runner.invoke(app, [*base, "--set", "colour=red", "--out", str(tmp_path / "m3")])
    assert r.exit_code == 1 and "model 'lippert'" in r.output and "colour" in r.output
    assert not (tmp_path / "m2").exists() and not (tmp_path / "m3").exists()
