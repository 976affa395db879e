"""`genoface traits` and `genoface audit` end to end, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from genoface.cli import app
from genoface.cohort import Cohort
from genoface.io import write_plink
from genoface.traits import load_trait_predictor

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(sim_realistic, tmp_path_factory):
    """A demographic model (with its trait predictor) trained on 1,200 people; the genotypes
    and candidates of 150 others."""
    cohort = Cohort.load(sim_realistic.cohort.path)
    train, test = cohort.split(0.2, seed=3)
    test = test.subset(np.arange(150))
    root = tmp_path_factory.mktemp("audit")
    train.save(root / "train")
    test.save(root / "candidates")
    write_plink(root / "genomes", test.sample_ids, test.genotypes, test.variants)
    result = runner.invoke(
        app, ["train", "--cohort", str(root / "train"), "--model", "demographic", "--out", str(root / "model")]
    )
    assert result.exit_code == 0, result.output
    return root, test


def test_train_keeps_a_trait_predictor_in_the_model(setup):
    root, _ = setup
    predictor = load_trait_predictor(root / "model")
    assert predictor.traits == ["sex", "ancestry", "eye_colour", "hair_colour", "skin_colour", "height_cm"]


def test_traits_json_and_table(setup):
    root, test = setup
    sid = str(test.sample_ids[0])
    args = ["traits", "--genotypes", str(root / "genomes.bed"), "--model", str(root / "model"), "--sample", sid]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    person = json.loads(result.output)["people"][0]
    assert person["sample_id"] == sid
    assert sum(person["sex"].values()) == pytest.approx(1)
    assert max(person["sex"], key=person["sex"].get) == test.covariates.loc[sid, "sex"]
    assert person["ancestry"]["population"] == test.covariates.loc[sid, "population"]
    assert set(person["eye_colour"]["probabilities"]) == {"blue", "intermediate", "brown"}
    lo, hi = person["height_cm"]["interval95"]
    assert lo < person["height_cm"]["mean"] < hi
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "eye_colour" in table.output and sid in table.output
    only = runner.invoke(app, [*args, "--trait", "eye_colour", "--trait", "height_cm", "--json"])
    assert set(json.loads(only.output)["people"][0]) == {"sample_id", "basis", "eye_colour", "height_cm"}
    unknown = runner.invoke(app, [*args, "--trait", "eye_color"])
    assert unknown.exit_code == 1 and "unknown trait 'eye_color'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1


def test_traits_scores_a_pgs_catalog_file(setup, tmp_path):
    root, test = setup
    # Three autosomal SNPs that are not strand-ambiguous (A/T, C/G are dropped by default).
    pairs = test.variants["ref"] + test.variants["alt"]
    cols = np.flatnonzero(
        ~pairs.isin(["AT", "TA", "CG", "GC"]).to_numpy() & (test.variants["chrom"] != "X").to_numpy()
    )[[5, 50, 500]]
    v = test.variants.iloc[cols]
    rows = "".join(
        f"{r.id}\t{r.chrom}\t{r.pos}\t{r.alt}\t{r.ref}\t{w}\n"
        for r, w in zip(v.itertuples(), (0.5, -1.0, 2.0), strict=True)
    )
    scoring = tmp_path / "PGS_TEST.txt"
    scoring.write_text(
        "#pgs_id=PGS_TEST\n#trait_reported=test trait\n"
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n" + rows
    )
    result = runner.invoke(app, ["traits", "--genotypes", str(root / "genomes.bed"), "--pgs", str(scoring), "--json"])
    assert result.exit_code == 0, result.output
    people = json.loads(result.output)["people"]
    g = test.genotypes[:, cols].astype(float)
    complete = (g >= 0).all(axis=1)
    expected = g @ np.array([0.5, -1.0, 2.0])
    got = np.array([p["pgs"]["PGS_TEST"]["score"] for p in people])
    np.testing.assert_allclose(got[complete], expected[complete])
    other = tmp_path / "none.txt"
    other.write_text("rsID\teffect_allele\tother_allele\teffect_weight\nrs0\tA\tG\t1\n")
    bad = runner.invoke(app, ["traits", "--genotypes", str(root / "genomes.bed"), "--pgs", str(other)])
    assert bad.exit_code == 1 and "none.txt" in bad.output and len(bad.output.strip().splitlines()) == 1


def test_audit_with_faces_writes_json_and_html(setup):
    root, _ = setup
    out = root / "report"
    result = runner.invoke(
        app,
        [
            "audit", "--genotypes", str(root / "genomes.bed"), "--candidates", str(root / "candidates"),
            "--model", str(root / "model"), "--baseline-model", str(root / "model"), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "audit.json").read_text())
    assert audit["n_owners_present"] == 150 and audit["simulated"] is True
    assert all("not_run" not in m for m in audit["conditions"].values())
    assert audit["conditions"]["demographics"]["select"]["10"] > 0.1  # beyond chance in a mixed cohort
    html = (out / "audit.html").read_text()
    assert "SIMULATED DATA" in html and "select-among-N" in html and "demographics + face" in html
    assert "demographics" in result.output


def test_audit_errors_are_one_line(setup, tmp_path):
    root, test = setup
    table = tmp_path / "candidates.tsv"
    table.write_text("sample_id\tsex\thair_color\n" + "".join(f"{s}\tF\tblond\n" for s in test.sample_ids[:5]))
    args = ["audit", "--genotypes", str(root / "genomes.bed"), "--model", str(root / "model")]
    result = runner.invoke(app, [*args, "--candidates", str(table), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "hair_color" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    table.write_text("sample_id\tsex\n" + "".join(f"{s}\tF\n" for s in test.sample_ids[:5]))
    traits_only = runner.invoke(app, [*args, "--candidates", str(table), "--out", str(tmp_path / "r2")])
    assert traits_only.exit_code == 0, traits_only.output  # no faces: trait conditions only
    audit = json.loads((tmp_path / "r2" / "audit.json").read_text())
    assert "no faces" in audit["notes"][0] and "not_run" in audit["conditions"]["dna + face"]
