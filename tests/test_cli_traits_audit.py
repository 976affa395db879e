"""`genoface traits` and `genoface audit` end to end, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import HAVE_HIRISPLEX_TABLES
from genoface.cli import app
from genoface.cohort import Cohort
from genoface.io import read_genotypes, write_plink
from genoface.traits import load_trait_predictor

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(sim_strong, tmp_path_factory):
    """A demographic model (with its trait predictor) trained on 1,200 people; the genotypes
    and candidates of 150 others."""
    cohort = Cohort.load(sim_strong.cohort.path)
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
    # The published models sit beside the trained ones under their own names; the simulated panel
    # SNPs carry random alleles, so most do not fit the published ones and nothing is made up.
    assert "sex_call" not in person
    if HAVE_HIRISPLEX_TABLES:  # the HIrisPlex-S tables are shared data, never shipped
        published = person["eye_colour_hirisplex_s"]
        assert published["citation"] == ["walsh2011", "chaitanya2018"]
        assert published["probabilities"] is None or published["complete"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "eye_colour" in table.output and sid in table.output
    only = runner.invoke(app, [*args, "--trait", "eye_colour", "--trait", "height_cm", "--json"])
    assert set(json.loads(only.output)["people"][0]) == {"sample_id", "basis", "eye_colour", "height_cm"}
    unknown = runner.invoke(app, [*args, "--trait", "eye_color"])
    assert unknown.exit_code == 1 and "unknown trait 'eye_color'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1


def test_traits_without_a_model(setup):
    """No --model: genetic sex from the file itself (150 people: their own X frequencies) and the
    published models, which the simulated panel SNPs' random alleles mostly do not fit."""
    root, test = setup
    result = runner.invoke(app, ["traits", "--genotypes", str(root / "genomes.bed"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    calls = pd.Series({p["sample_id"]: p["sex_call"]["call"] for p in out["people"]})
    truth = test.covariates.loc[calls.index, "sex"]
    called = calls != "unknown"
    assert called.mean() >= 0.9 and (calls[called] == truth[called]).mean() >= 0.98
    assert "own X allele frequencies" in out["people"][0]["sex_call"]["method"]
    if HAVE_HIRISPLEX_TABLES:  # the HIrisPlex-S tables are shared data, never shipped
        assert {"eye_colour_hirisplex_s", "hair_colour_hirisplex_s", "hair_shade_hirisplex_s"} <= set(out["people"][0])
        assert "walsh2013" in out["citations"]
    else:
        assert any("published pigmentation models not applied" in n for n in out["notes"])


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
            "--model", str(root / "model"), "--baseline-model", str(root / "model"), "--out", str(out), "--assign",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "audit.json").read_text())
    assert all(0 <= m["top1_assigned"] <= 1 for m in audit["conditions"].values())
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


HAPGEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "hapgen"


@pytest.mark.skipif(not HAPGEN.is_dir(), reason="needs ../shared/data/hapgen (real-looking CEU / JPT+CHB genotypes)")
def test_traits_with_a_reference_panel_on_hapmap_like_genotypes(tmp_path):
    """Ancestry from a user-supplied reference (700 labelled people) for 300 others."""
    data = read_genotypes(HAPGEN / "hapgen_ceu_asn_chr10.vcf.gz")
    pops = pd.read_csv(HAPGEN / "hapgen_ceu_asn_chr10.populations.tsv", sep="\t", index_col="sample_id")
    order = np.random.default_rng(0).permutation(data.n_samples)
    ref, target = data.take(order[:700]), data.take(order[700:])
    write_plink(tmp_path / "ref", ref.sample_ids, ref.genotypes, ref.variants)
    write_plink(tmp_path / "target", target.sample_ids, target.genotypes, target.variants)
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "sample_id\tpopulation\n" + "".join(f"{s}\t{pops.loc[s, 'population']}\n" for s in ref.sample_ids)
    )
    args = ["traits", "--genotypes", str(tmp_path / "target.bed"), "--reference", str(tmp_path / "ref.bed")]
    result = runner.invoke(app, [*args, "--reference-labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    people = json.loads(result.output)["people"]
    called = [p["ancestry"]["population"] for p in people]
    truth = pops.loc[[p["sample_id"] for p in people], "population"].to_numpy()
    assert np.mean(np.array(called) == truth) >= 0.98
    assert "sex" not in people[0]  # chromosome 10 only: no sex model, and none is made up
    short = tmp_path / "short.tsv"
    short.write_text("".join(labels.read_text().splitlines(keepends=True)[:-3]))
    bad = runner.invoke(app, [*args, "--reference-labels", str(short)])
    assert bad.exit_code == 1 and "no row for 3 reference samples" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_traits_from_a_23andme_file(setup, tmp_path):
    root, test = setup
    panel = load_trait_predictor(root / "model").panel_
    sid = str(test.sample_ids[1])
    cols = pd.Index(test.variants["id"]).get_indexer(panel["id"])
    g = np.asarray(test.genotypes[1, cols])
    letters = ["--" if d < 0 else (r * (2 - d) + a * d) for d, r, a in zip(g, panel["ref"], panel["alt"], strict=True)]
    rows = "".join(
        f"{i}\t{c}\t{p}\t{x}\n" for i, c, p, x in zip(panel["id"], panel["chrom"], panel["pos"], letters, strict=True)
    )
    person = tmp_path / f"{sid}.txt"
    person.write_text("# rsid\tchromosome\tposition\tgenotype\n" + rows)
    result = runner.invoke(app, ["traits", "--genotypes", str(person), "--model", str(root / "model"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    mine = out["people"][0]
    assert mine["sample_id"] == sid and "variants matched" in out["notes"][0]
    assert max(mine["sex"], key=mine["sex"].get) == test.covariates.loc[sid, "sex"]
    assert mine["ancestry"]["population"] == test.covariates.loc[sid, "population"]
