"""The simulator against what it was asked for, against theory, and on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SHARED_DATA
from genoface.cli import app
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.models import make_model
from genoface.shape import builtin_shape_model, load_sfm
from genoface.simulate import COMPONENTS, GeneticArchitecture, GenomeLayout, Preset, simulate

SMALL_LAYOUT = GenomeLayout(contig_lengths=(1_000_000,) * 2, x_length=500_000, maf=0.02)


def _tolerance(requested: float, n: int) -> float:
    # A variance estimated from n people has relative standard error about sqrt(2/n) for
    # Gaussian parts (smaller for sex, which is nearly fixed); allow five of them.
    return 5 * np.sqrt(2.0 / n) * requested + 0.005


def test_variance_decomposition_matches_the_preset(sim_strong):
    var = sim_strong.variance
    n = sim_strong.cohort.n_samples
    assert set(var["requested"]) == set(COMPONENTS)
    assert sum(var["requested"].values()) == pytest.approx(1.0)
    for c in ("ancestry", "sex", "age", "bmi", "residual"):
        assert abs(var["realized"][c] - var["requested"][c]) < _tolerance(var["requested"][c], n), c
    # The genetic share is rescaled to hold in the cohort (as GCTA does); the total carries the
    # chance covariances between components (ancestry and genetic means, mostly).
    assert var["realized"]["genetic"] == pytest.approx(var["requested"]["genetic"], rel=1e-6)
    assert var["realized"]["total"] == pytest.approx(1.0, abs=0.1)


def test_face_variance_measured_from_the_written_faces(sim_strong):
    cohort = Cohort.load(sim_strong.cohort.path)
    faces = cohort.faces.reshape(cohort.n_samples, -1).astype(np.float64)
    total = faces.var(axis=0).sum()
    assert total / builtin_shape_model().total_variance == pytest.approx(
        sim_strong.variance["realized"]["total"], rel=1e-3
    )
    # Sex alone: the between-sex variance of the faces.
    male = cohort.covariates["sex"].to_numpy() == "M"
    d = faces[male].mean(0) - faces[~male].mean(0)
    share = male.mean() * (1 - male.mean()) * (d @ d) / builtin_shape_model().total_variance
    assert share == pytest.approx(0.13, abs=0.03)


def test_oracle_with_covariates_leaves_only_the_residual(sim_strong):
    cohort = Cohort.load(sim_strong.cohort.path)
    oracle = make_model("oracle").fit(cohort)
    pred = oracle.predict(cohort, covariates=cohort.covariates)
    resid = (cohort.faces - pred).reshape(cohort.n_samples, -1)
    share = resid.var(axis=0).sum() / builtin_shape_model().total_variance
    assert share == pytest.approx(sim_strong.variance["requested"]["residual"], rel=0.1)
    # What is left is unrelated to sex and age.
    male = cohort.covariates["sex"].to_numpy() == "M"
    gap = resid[male].mean(0) - resid[~male].mean(0)
    assert np.sqrt(gap @ gap / (resid.shape[1] / 3)) < 0.5  # mm, per vertex
    # Without covariates the oracle still knows sex and population from the genome.
    pred_dna = oracle.predict(cohort)
    err = lambda p: np.linalg.norm(cohort.faces - p, axis=2).mean()  # noqa: E731
    assert err(pred) < err(pred_dna) < err(np.broadcast_to(cohort.faces.mean(0), cohort.faces.shape))
    post = oracle.truth_.population_posterior(
        np.where(cohort.genotypes >= 0, cohort.genotypes, np.nan)[
            :, cohort.variants["id"].isin(oracle.truth_.ancestry_snps).to_numpy()
        ]
    )
    truth_pop = cohort.covariates["population"].to_numpy()
    assert (oracle.truth_.populations[post.argmax(1)] == truth_pop).mean() > 0.99


def test_nose_lengthens_as_published(sim_strong):
    cohort = sim_strong.cohort
    lm = builtin_shape_model().landmarks
    nose = np.linalg.norm(cohort.faces[:, lm["nasion"]] - cohort.faces[:, lm["subnasale"]], axis=1)
    age = cohort.covariates["age"].to_numpy()
    slope = np.polyfit(age, nose, 1)[0] * 10  # mm per decade
    # Theory: 1.3 mm per unit of g(age); the least-squares slope of g on age over the ages drawn.
    truth = sim_strong.truth
    expected = 1.3 * np.polyfit(age, truth.age_function(age), 1)[0] * 10
    assert slope == pytest.approx(expected, abs=0.25)


def test_same_seed_same_cohort_other_seed_other_cohort():
    preset = Preset(
        "tiny",
        "test",
        {"CEU": 60, "CHB": 60},
        SMALL_LAYOUT,
        {"sex": 0.1, "genetic": 0.3},
        architecture=GeneticArchitecture(n_regional_loci=20, n_background_snps=50),
    )
    a = simulate(preset, seed=3).cohort
    b = simulate(preset, seed=3).cohort
    c = simulate(preset, seed=4).cohort
    np.testing.assert_array_equal(a.genotypes, b.genotypes)
    np.testing.assert_array_equal(a.faces, b.faces)
    assert a.covariates.equals(b.covariates)
    assert not np.array_equal(a.faces, c.faces)


def test_written_cohort_reads_back_identical(sim_strong):
    mem = sim_strong.cohort
    disk = Cohort.load(mem.path)
    np.testing.assert_array_equal(disk.sample_ids, mem.sample_ids)
    np.testing.assert_array_equal(disk.genotypes, mem.genotypes)
    np.testing.assert_array_equal(disk.faces, mem.faces)
    np.testing.assert_allclose(disk.template_vertices, mem.template_vertices, atol=1e-4)
    assert disk.variants[["chrom", "pos", "id", "ref", "alt"]].equals(
        mem.variants[["chrom", "pos", "id", "ref", "alt"]]
    )
    assert disk.is_simulated and disk.meta["units"] == "mm"
    for col in ("sex", "population", "eye_colour"):
        assert (disk.covariates[col] == mem.covariates[col]).all()
    np.testing.assert_allclose(
        disk.covariates[["age", "bmi", "height_cm"]], mem.covariates[["age", "bmi", "height_cm"]]
    )


def test_males_are_hemizygous_on_x(sim_strong):
    cohort = Cohort.load(sim_strong.cohort.path)
    x = cohort.variants["chrom"].to_numpy() == "X"
    male = cohort.covariates["sex"].to_numpy() == "M"
    assert x.sum() > 50
    assert not (cohort.genotypes[np.ix_(male, x)] == 1).any()
    assert (cohort.genotypes[np.ix_(~male, x)] == 1).any()


def test_traits_follow_ancestry_and_sex(sim_strong):
    cov = sim_strong.cohort.covariates
    blue = (cov["eye_colour"] == "blue").groupby(cov["population"]).mean()
    assert blue["CEU"] > 0.1 and blue["CEU"] > 3 * max(blue["YRI"], blue["CHB"])
    dark = cov["skin_colour"].isin(["dark", "dark to black"]).groupby(cov["population"]).mean()
    assert dark["YRI"] > 0.5 > dark["CEU"]
    height = cov.groupby("sex")["height_cm"].mean()
    assert height["M"] - height["F"] == pytest.approx(13.0, abs=2.0)
    ids = set(sim_strong.cohort.variants["id"])
    assert {"rs12913832", "rs16891982", "rs1805007"} <= ids  # panel stand-ins are named


@pytest.mark.skipif(
    not (SHARED_DATA / "sfm" / "sfm_shape_3448.npz").exists(), reason="Surrey Face Model not at ../shared/data/sfm"
)
def test_sfm_residual_covariance_matches_the_model():
    """Faces of a residual-only cohort have the covariance the truth states, B B^T + sd^2 I,
    whose spectrum starts with the Surrey model's own eigenvalues (the global part dominates)."""
    sfm = load_sfm(SHARED_DATA / "sfm")
    preset = Preset(
        "residual-only",
        "test",
        {"CEU": 3000},
        SMALL_LAYOUT,
        {},
        architecture=GeneticArchitecture(n_regional_loci=0, n_background_snps=0),
    )
    sim = simulate(preset, seed=5, shape_model=sfm)
    faces = sim.cohort.faces.reshape(3000, -1).astype(np.float64)
    centred = faces - faces.mean(0)
    eig = np.linalg.svd(centred, compute_uv=False) ** 2 / (len(faces) - 1)
    b = sim.truth.residual_factor(age_known=True, bmi_known=True)
    expected = np.sort(np.linalg.eigvalsh(b.T @ b))[::-1] + sim.truth.measurement_sd**2
    rel = eig[:10] / expected[:10]
    assert np.all(np.abs(rel - 1) < 5 * np.sqrt(2 / 3000)), rel
    assert eig.sum() / sfm.total_variance == pytest.approx(1.0, abs=0.05)
    # The global shape-space part keeps the model's leading modes on top.
    assert expected[0] == pytest.approx(sim.truth.residual_scale**2 * sfm.eigenvalues[0], rel=0.5)


def test_unknown_preset_is_a_clear_error(tmp_path):
    with pytest.raises(GenofaceError, match="unknown preset 'nope'; choose one of: realistic"):
        simulate("nope", out=tmp_path / "c")
    result = CliRunner().invoke(app, ["simulate", "--preset", "nope", "--out", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "unknown preset" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "c").exists()


def test_failure_while_writing_leaves_no_directory(tmp_path, monkeypatch):
    from genoface.simulate import _faces

    def boom(self, directory):
        raise OSError("disk full")

    monkeypatch.setattr(_faces.FaceTruth, "save", boom)
    preset = Preset(
        "tiny",
        "test",
        {"CEU": 40},
        SMALL_LAYOUT,
        {"genetic": 0.2},
        architecture=GeneticArchitecture(n_regional_loci=10, n_background_snps=10),
    )
    with pytest.raises(OSError):
        simulate(preset, out=tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_cli_simulate_needs_only_out(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    cohort = Cohort.load(tmp_path / "c")
    assert cohort.n_samples == 600 and cohort.is_simulated
    assert (tmp_path / "c" / "truth" / "variance.json").exists()
    assert "simulated" in result.output


def test_out_of_core_simulation_writes_the_same_cohort(tmp_path):
    """Genotypes decoded into a store on disk and faces drawn straight into faces.npy (the
    100,000-person path) give exactly the cohort that the in-memory path gives."""
    preset = Preset(
        "tiny",
        "test",
        {"CEU": 50, "YRI": 50},
        SMALL_LAYOUT,
        {"sex": 0.1, "genetic": 0.3},
        architecture=GeneticArchitecture(n_regional_loci=10, n_background_snps=40),
    )
    in_memory = simulate(preset, seed=5).cohort
    args = ["simulate", "--preset", "oligogenic", "--n", "40", "--contigs", "1", "--contig-length", "400000"]
    result = CliRunner().invoke(
        app, [*args, "--format", "plink", "--faces-format", "npy", "--out-of-core", "--out", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "cli").iterdir() if not p.name.startswith(".")) == [
        "cohort.json", "covariates.tsv", "faces.npy", "genotypes.bed", "genotypes.bim", "genotypes.fam",
        "template.ply", "truth",
    ]  # fmt: skip
    streamed = simulate(preset, seed=5, out=tmp_path / "c", genotype_format="bed", faces_format="npy", lazy=True)
    assert not isinstance(streamed.cohort.genotypes, np.ndarray)  # read from the store, a block at a time
    assert not (tmp_path / "c" / ".genotypes.zarr").exists()  # the scratch store is gone
    reloaded = Cohort.load(tmp_path / "c")
    assert reloaded.hash() == streamed.cohort.hash() == in_memory.hash()
    np.testing.assert_array_equal(reloaded.faces, in_memory.faces)
    with pytest.raises(GenofaceError, match="give --out"):
        simulate(preset, faces_format="npy")


def test_at_most_22_autosomes():
    """Contigs are named 1, 2, ...: a 23rd would be read as X by PLINK and by genoface itself."""
    GenomeLayout(contig_lengths=(10_000,) * 22)
    with pytest.raises(GenofaceError, match="at most 22"):
        GenomeLayout(contig_lengths=(10_000,) * 23)
    r = CliRunner().invoke(app, ["simulate", "--contigs", "26", "--out", "never"])
    assert r.exit_code == 1 and "at most 22" in r.output and "--contig-length" in r.output
