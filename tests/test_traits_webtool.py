"""The published HIrisPlex-S webtool models (and the 2011 IrisPlex table), read from the shared
data's tables (never shipped): the formula by hand, allele orientation, the insertion, the
missing-SNP rule, the out-of-the-box `genoface traits`, and the webtool's own outputs for the
2,504 people of 1000 Genomes phase 3. Without the tables: a clear note or error."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import needs_hirisplex_tables
from genoface.cli import app
from genoface.core.errors import GenofaceError
from genoface.io import GenotypeData, read_genotypes, write_vcf
from genoface.traits import (
    MAX_MARGINALIZED,
    TABLE_FILES,
    TABLES_ENV,
    hirisplex_folder,
    irisplex_2011_model,
    panel_frequencies,
    predict_published,
    published_model,
    reference_frequencies,
    webtool_models,
    webtool_panel,
)
from genoface.usecases.traits import traits_for_file

HIRISPLEX = Path(__file__).resolve().parents[2] / "shared" / "data" / "hirisplex"
PSAM = Path(__file__).resolve().parents[2] / "shared" / "data" / "1000g_tiny" / "ref.psam"
needs_hirisplex = pytest.mark.skipif(
    not (HIRISPLEX / "webtool_output_1000g.tsv").is_file(),
    reason="needs ../shared/data/hirisplex (1000 Genomes VCF and the webtool's outputs)",
)
# The webtool's output columns, in each model's category order.
COLUMNS = {
    "eye_colour_hirisplex_s": ["PBlueEye", "PIntermediateEye", "PBrownEye"],
    "hair_colour_hirisplex_s": ["PBlondHair", "PBrownHair", "PRedHair", "PBlackHair"],
    "hair_shade_hirisplex_s": ["PLightHair", "PDarkHair"],
}
runner = CliRunner()


def _models() -> dict:
    return {m.name: m for m in webtool_models()}


def _person(snps: dict[str, int], panel: pd.DataFrame | None = None, swap: tuple[str, ...] = ()) -> GenotypeData:
    """One person with the given counted-allele copies at panel SNPs (others not typed); SNPs in
    ``swap`` are written with REF and ALT exchanged."""
    panel = webtool_panel() if panel is None else panel
    rows = panel.set_index("id").loc[list(snps)]
    ref = np.where(rows.index.isin(swap), rows["alt"], rows["ref"])
    alt = np.where(rows.index.isin(swap), rows["ref"], rows["alt"])
    counted = rows["counted"].to_numpy()
    dosage = [c if a == k else 2 - c for c, a, k in zip(snps.values(), alt, counted, strict=True)]
    variants = pd.DataFrame({"chrom": rows["chrom"], "pos": rows["pos"], "id": rows.index, "ref": ref, "alt": alt})
    return GenotypeData(np.array(["p"]), np.array([dosage], dtype=np.int8), variants.reset_index(drop=True))


def test_the_tables_are_not_shipped_and_their_absence_is_said(tmp_path, monkeypatch):
    """Shared data is never packaged: only genoface's own frequency table and README ship. With
    no folder, `genoface traits` gives sex and a note; a folder without the tables is one line."""
    shipped = {p.name for p in resources.files("genoface.traits").joinpath("data").iterdir()}
    assert shipped == {"README.md", "reference_frequencies_1000g.tsv"}
    monkeypatch.delenv(TABLES_ENV, raising=False)
    with pytest.raises(GenofaceError, match="not shipped with genoface; give --hirisplex DIR"):
        hirisplex_folder()
    ids = ["man1", "man2", "woman1", "woman2"]
    g_x, v_x = _x_calls(np.random.default_rng(5))
    write_vcf(tmp_path / "people.vcf.gz", np.array(ids), g_x, v_x[["chrom", "pos", "id", "ref", "alt"]])
    args = ["traits", "--genotypes", str(tmp_path / "people.vcf.gz")]
    out = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert [p["sex_call"]["call"] for p in out["people"]] == ["M", "M", "F", "F"]
    assert any("published pigmentation models not applied" in n for n in out["notes"])
    assert "eye_colour_hirisplex_s" not in out["people"][0]
    for extra in (["--hirisplex", str(tmp_path)], ["--irisplex", "walsh2011"]):
        bad = runner.invoke(app, [*args, *extra])
        assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1, bad.output
        assert "HIrisPlex-S" in bad.output and "Traceback" not in bad.output


@needs_hirisplex_tables
def test_tables_are_the_published_ones():
    assert hirisplex_folder() == HIRISPLEX and set(TABLE_FILES) <= {p.name for p in HIRISPLEX.iterdir()}
    models = _models()
    assert [len(m.snps) for m in models.values()] == [6, 22, 20]
    assert models["hair_colour_hirisplex_s"].counted[0] == "CA"  # rs312262906: the insertion
    for m in models.values():
        ref = m.categories.index(m.reference)
        assert np.all(m.coef[ref] == 0) and m.intercept[ref] == 0


@needs_hirisplex_tables
def test_eye_formula_by_hand():
    """P(k) = exp(a_k + b_k.x) / (1 + sum_m exp(a_m + b_m.x)), numbers typed from eye_webtool.tsv."""
    eye = _models()["eye_colour_hirisplex_s"]
    x = {"rs12913832": 2, "rs1800407": 0, "rs12896399": 1, "rs16891982": 0, "rs1393350": 1, "rs12203592": 0}
    blue = 2.575575265 - 5.385897557 * 2 + 0.763629942 + 0.434039417
    inter = 0.306416526 - 2.302942706 * 2 + 0.254102473 + 0.208741075
    expected = np.array([np.exp(blue), np.exp(inter), 1.0]) / (1 + np.exp(blue) + np.exp(inter))
    got = predict_published(eye, _person(x))
    np.testing.assert_allclose(got.probabilities[0], expected, rtol=1e-12)
    assert got.complete[0] and got.method[0] == "exact"
    record = got.record(0)
    assert record["citation"] == ["walsh2011", "chaitanya2018"] and record["missing_snps"] == []
    assert set(record["probabilities"]) == {"blue", "intermediate", "brown"}


@needs_hirisplex_tables
def test_alleles_read_in_either_orientation_and_the_insertion():
    """REF/ALT exchanged (palindromic rs16891982 included: a forward-strand file is read as
    written) gives the same counts; the insertion's ALT CA is the counted allele."""
    models = _models()
    x = {s: 1 for s in models["hair_colour_hirisplex_s"].snps}
    x["rs312262906"], x["rs12913832"], x["rs16891982"] = 1, 2, 0
    plain = _person(x)
    swapped = _person(x, swap=("rs12913832", "rs16891982", "rs1800407"))
    hair = models["hair_colour_hirisplex_s"]
    a, b = hair.counts(plain), hair.counts(swapped)
    np.testing.assert_array_equal(a, b)
    assert a[0, list(hair.snps).index("rs312262906")] == 1
    assert a[0, list(hair.snps).index("rs16891982")] == 0
    # A carrier of the insertion is very likely red-haired by the webtool's model (coefficient 18.2).
    red = hair.categories.index("red")
    none = dict(x, rs312262906=0)
    assert (
        predict_published(hair, plain).probabilities[0, red]
        > predict_published(hair, _person(none)).probabilities[0, red]
    )


@needs_hirisplex_tables
def test_missing_snps_withheld_by_default_and_marginalized_on_request():
    eye = _models()["eye_colour_hirisplex_s"]
    x = {"rs12913832": 2, "rs1800407": 0, "rs12896399": 1, "rs16891982": 0, "rs1393350": 1}  # rs12203592 absent
    data = _person(x)
    held = predict_published(eye, data)
    assert np.isnan(held.probabilities).all() and not held.complete[0] and held.method[0] == "withheld"
    record = held.record(0)
    assert record["probabilities"] is None and record["missing_snps"] == ["rs12203592"]
    assert "unpublished reduced model" in record["reason"]
    # Averaged over rs12203592's genotypes in Hardy-Weinberg proportions at its EUR frequency.
    f = reference_frequencies("EUR")["rs12203592"]
    full = [predict_published(eye, _person(dict(x, rs12203592=c))).probabilities[0] for c in (0, 1, 2)]
    expected = (1 - f) ** 2 * full[0] + 2 * f * (1 - f) * full[1] + f**2 * full[2]
    avg = predict_published(eye, data, missing="marginalize", population="EUR")
    np.testing.assert_allclose(avg.probabilities[0], expected, rtol=1e-12)
    assert avg.method[0] == "marginalized" and not avg.complete[0]
    assert avg.record(0)["missing_snp_frequencies"] == "1000 Genomes phase 3 EUR"
    # Too many missing SNPs to average over: withheld even on request.
    hair = _models()["hair_colour_hirisplex_s"]
    few = _person({s: 0 for s in hair.snps[: len(hair.snps) - MAX_MARGINALIZED - 1]})
    assert predict_published(hair, few, missing="marginalize").method[0] == "withheld"
    with pytest.raises(GenofaceError, match="missing must be one of"):
        predict_published(eye, data, missing="impute")
    with pytest.raises(GenofaceError, match="unknown reference population 'XYZ'"):
        reference_frequencies("XYZ")


@needs_hirisplex_tables
def test_irisplex_2011_table_on_the_forward_strand():
    """The 2011 table's alleles are on the webtool terms' strand: put on the forward strand they
    give the webtool eye model's counted allele and coefficient sign, except rs12896399 where the
    2011 paper counts the other allele (G against the webtool's T: opposite signs)."""
    old, eye = irisplex_2011_model(), _models()["eye_colour_hirisplex_s"]
    assert old.counted == ("A", "T", "G", "C", "A", "T")
    web = dict(zip(eye.snps, zip(eye.counted, eye.coef.T, strict=True), strict=True))
    for snp, counted, coef in zip(old.snps, old.counted, old.coef.T, strict=True):
        same = counted == web[snp][0]
        assert same == (snp != "rs12896399")
        signs = np.sign(coef[:2]) * (1 if same else -1)
        assert np.array_equal(signs, np.sign(web[snp][1][:2])), snp
    assert published_model("walsh2011").name == "eye_colour_irisplex_2011"
    with pytest.raises(GenofaceError, match="unknown published model"):
        published_model("walsh2012")


def _x_calls(rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    """Two men (hemizygous on 40 X SNPs) and two women (heterozygous at 8 or more)."""
    g_x = np.where(np.array([[1], [1], [0], [0]]) == 1, 2 * rng.integers(0, 2, (4, 40)), rng.integers(0, 3, (4, 40)))
    g_x[2:, :8] = 1
    v_x = pd.DataFrame({"id": [f"x{i}" for i in range(40)], "chrom": "X", "pos": 3_000_000 + 1000 * np.arange(40)})
    v_x["ref"], v_x["alt"] = "A", "G"
    return g_x.astype(np.int8), v_x


def _vcf_with_sex_and_panel(path: Path) -> tuple[list[str], dict]:
    """Four people: two men (hemizygous on 40 X SNPs), two women (heterozygous at some), all with
    the six eye SNPs; one woman lacks rs12203592."""
    rng = np.random.default_rng(5)
    panel = webtool_panel().set_index("id")
    eye = _models()["eye_colour_hirisplex_s"]
    counts = rng.integers(0, 3, size=(4, 6))
    alt_counted = np.array([panel.loc[s, "counted"] == panel.loc[s, "alt"] for s in eye.snps])
    g_eye = np.where(alt_counted[None, :], counts, 2 - counts)
    g_eye[3, 5] = -1
    g_x, v_x = _x_calls(rng)
    v_eye = panel.loc[list(eye.snps), ["chrom", "pos", "ref", "alt"]].reset_index()
    variants = pd.concat([v_eye, v_x], ignore_index=True)[["chrom", "pos", "id", "ref", "alt"]]
    ids = ["man1", "man2", "woman1", "woman2"]
    write_vcf(path, np.array(ids), np.column_stack([g_eye, g_x]).astype(np.int8), variants)
    return ids, {"counts": counts, "eye": eye}


@needs_hirisplex_tables
def test_traits_out_of_the_box(tmp_path):
    """No --model: genetic sex and the published models, with citations in --json."""
    ids, spec = _vcf_with_sex_and_panel(tmp_path / "people.vcf.gz")
    result = runner.invoke(app, ["traits", "--genotypes", str(tmp_path / "people.vcf.gz"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    people = {p["sample_id"]: p for p in out["people"]}
    assert [people[s]["sex_call"]["call"] for s in ids] == ["M", "M", "F", "F"]
    assert people["man1"]["sex"]["M"] > 0.99 and "prior heterozygosity" in people["man1"]["sex_call"]["method"]
    eye = spec["eye"]
    expected = eye.predict_proba(spec["counts"][:3].astype(float))
    for i, s in enumerate(ids[:3]):
        got = people[s]["eye_colour_hirisplex_s"]
        assert got["complete"] and got["citation"] == ["walsh2011", "chaitanya2018"]
        np.testing.assert_allclose([got["probabilities"][c] for c in eye.categories], expected[i], rtol=1e-9)
    assert people["woman2"]["eye_colour_hirisplex_s"]["probabilities"] is None
    assert people["woman2"]["eye_colour_hirisplex_s"]["missing_snps"] == ["rs12203592"]
    assert "walsh2011" in out["citations"] and "eye_colour_hirisplex_s" in out["models"]
    # --missing-snps EUR gives woman2 a prediction flagged incomplete; a bad value is one line.
    args = ["traits", "--genotypes", str(tmp_path / "people.vcf.gz")]
    filled = json.loads(runner.invoke(app, [*args, "--json", "--missing-snps", "EUR"]).output)
    woman2 = next(p for p in filled["people"] if p["sample_id"] == "woman2")["eye_colour_hirisplex_s"]
    assert woman2["method"] == "marginalized" and woman2["complete"] is False
    bad = runner.invoke(app, [*args, "--missing-snps", "impute"])
    assert bad.exit_code == 1 and "--missing-snps" in bad.output and len(bad.output.strip().splitlines()) == 1
    # The table: one row per trait, the withheld prediction said so.
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "eye_colour_hirisplex_s" in table.output and "withheld" in table.output
    assert "walsh2011; chaitanya2018" in table.output and "M (1.00)" in table.output
    # The original IrisPlex model on request, and --trait picks one.
    old = json.loads(runner.invoke(app, [*args, "--json", "--irisplex", "walsh2011", "--trait", "sex"]).output)
    assert set(old["people"][0]) == {"sample_id", "sex", "sex_call"}
    old = json.loads(runner.invoke(app, [*args, "--json", "--irisplex", "walsh2011"]).output)
    assert old["people"][0]["eye_colour_irisplex_2011"]["citation"] == ["walsh2011"]


@needs_hirisplex
def test_webtool_outputs_reproduced_for_1000_genomes():
    """Read through the normal reader, the shipped models give the webtool's own probabilities
    for all 2,504 people of 1000 Genomes phase 3, every column, to 1e-6."""
    data = read_genotypes(HIRISPLEX / "hirisplex_1000g_grch37.vcf.gz", snps_only=False)
    web = pd.read_csv(HIRISPLEX / "webtool_output_1000g.tsv", sep="\t", index_col="sampleid")
    assert len(web) == 2504 and set(web.index) == set(data.sample_ids)
    web = web.loc[data.sample_ids]
    report = traits_for_file(HIRISPLEX / "hirisplex_1000g_grch37.vcf.gz")  # what `genoface traits` does
    assert [r["sample_id"] for r in report.records] == list(data.sample_ids)
    for model in webtool_models():
        pred = predict_published(model, data)
        assert pred.complete.all(), pred.summary()  # rs312262906 (an insertion) must be read too
        diff = np.abs(pred.probabilities - web[COLUMNS[model.name]].to_numpy())
        assert diff.max() < 1e-6, (model.name, diff.max())
        cli = np.array([[r[model.name]["probabilities"][c] for c in model.categories] for r in report.records])
        assert np.abs(cli - web[COLUMNS[model.name]].to_numpy()).max() < 1e-6, model.name


@needs_hirisplex
@pytest.mark.skipif(not PSAM.is_file(), reason="needs ../shared/data/1000g_tiny/ref.psam (super-populations)")
def test_shipped_reference_frequencies_recomputed():
    data = read_genotypes(HIRISPLEX / "hirisplex_1000g_grch37.vcf.gz", snps_only=False)
    pops = pd.read_csv(PSAM, sep="\t", index_col="#IID").loc[data.sample_ids, "SuperPop"]
    ours = panel_frequencies(data, pops.to_numpy()).set_index("id")
    for pop in ("AFR", "AMR", "EAS", "EUR", "SAS", "ALL"):
        shipped = reference_frequencies(pop)
        read = ours[pop].notna()
        assert read.sum() >= 40
        np.testing.assert_allclose(ours.loc[read, pop], shipped[read[read].index], atol=1e-6)
