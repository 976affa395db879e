"""The calibrated presets: their genetic architecture against the truth files, a fast run of the
calibration against Sero et al.'s published ordering, and bad overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genoface.cli import app
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.shape import builtin_shape_model
from genoface.simulate import (
    FaceTruth,
    GeneticArchitecture,
    get_preset,
    locus_component_shares,
    published_operating_points,
)

BENCH = Path(__file__).resolve().parents[1] / "bench" / "calibrate_presets.py"


@pytest.fixture(scope="module")
def written(sim_calibrated):
    """The calibrated cohort read back from disk, with its truth and causal dosages."""
    cohort = Cohort.load(sim_calibrated.cohort.path)
    truth = FaceTruth.load(sim_calibrated.cohort.path / "truth")
    index = {v: i for i, v in enumerate(cohort.variants["id"])}
    dosage = cohort.genotypes[:, [index[s] for s in truth.shape_snps]].astype(np.float64)
    record = json.loads((sim_calibrated.cohort.path / "truth" / "variance.json").read_text())
    return cohort, truth, dosage, record


def test_causal_variants_are_as_many_as_the_preset_asks(written):
    _, truth, dosage, record = written
    arch = get_preset("realistic").architecture
    assert truth.regional_effects.shape[0] == arch.n_regional_loci == record["architecture"]["n_regional_loci"]
    assert truth.background_effects.shape[0] == arch.n_background_snps
    assert arch.n_regional_loci + arch.n_background_snps >= 1000  # polygenic: thousands of causal SNPs
    maf = np.minimum(dosage.mean(0) / 2, 1 - dosage.mean(0) / 2)
    assert maf.min() >= arch.min_maf - 0.02  # common variants (pooled MAF, a little drift in the sample)


def test_each_locus_explains_what_the_record_says_and_no_more_than_the_cap(written):
    cohort, truth, dosage, record = written
    basis = builtin_shape_model().basis
    flat = cohort.faces.reshape(cohort.n_samples, -1).astype(np.float64)
    component_var = ((flat - flat.mean(0)) @ basis).var(0)
    shares = locus_component_shares(truth, basis, dosage.var(0), component_var)
    arch = get_preset("realistic").architecture
    assert shares.max() == pytest.approx(record["architecture"]["max_locus_share"], rel=1e-4)
    assert shares.max() <= arch.max_locus_share <= 0.08
    # Regional loci carry their share of the genetic variance (marginal variances; LD aside).
    eigenvalues = (truth.scaled_basis**2).sum(0)
    norms = np.concatenate([(truth.regional_effects**2).sum(1), (truth.background_effects**2) @ eigenvalues])
    locus_var = dosage.var(0) * norms
    regional = locus_var[: arch.n_regional_loci].sum() / locus_var.sum()
    assert regional == pytest.approx(arch.regional_share, abs=0.05)


def test_snp_heritability_per_component_matches_the_truth(written):
    cohort, truth, dosage, record = written
    basis = builtin_shape_model().basis
    flat = cohort.faces.reshape(cohort.n_samples, -1).astype(np.float64)
    value = truth.genetic_value(dosage)
    h2 = (value @ basis).var(0) / ((flat - flat.mean(0)) @ basis).var(0)
    assert h2 == pytest.approx(np.array(record["architecture"]["snp_heritability_per_component"]), abs=1e-6)
    # Over all coordinates the genetic variance is the preset's share of total shape variance.
    share = value.var(0).sum() / builtin_shape_model().total_variance
    assert share == pytest.approx(get_preset("realistic").fractions["genetic"], rel=0.05)
    assert h2.max() < 0.2  # the simulated genome carries a few percent, not a whole genome's heritability


def test_strong_loci_keeps_the_method_testing_architecture():
    strong, realistic = get_preset("strong-loci"), get_preset("realistic")
    assert strong.architecture.max_locus_share == 1.0 and strong.fractions["genetic"] > realistic.fractions["genetic"]
    assert "not a picture of real faces" in strong.description


def test_published_operating_points_hold_the_figures_the_presets_are_calibrated_to():
    table = published_operating_points()
    assert table.loc["sero2019_euro_fused_auc", "value"] == pytest.approx(0.880)
    assert table.loc["sero2019_euro_snps_r10", "value"] == pytest.approx(0.219)
    assert set(table["metric"]) >= {"auc", "r10", "select10"}
    assert table.index.is_unique


def test_fast_calibration_shows_seros_published_ordering(tmp_path):
    """Sero et al.: fused >= without SNPs > sex only > SNPs only (AUC 0.880, 0.863, 0.735, 0.636).
    The fused and without-SNPs AUCs are close in the paper (0.017); two seeds are averaged."""
    out = tmp_path / "calibration.json"
    cmd = [sys.executable, str(BENCH), "--quick", "--designs", "sero", "--seeds", "1,2", "--n-boot", "5"]
    proc = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(out.read_text())["sero"]
    auc = {c: np.mean([r[c]["auc"]["value"] for r in runs]) for c in ("fused", "no_snps", "sex", "snps")}
    assert auc["fused"] >= auc["no_snps"] - 0.01 and auc["no_snps"] > auc["sex"] > auc["snps"] > 0.5, auc
    assert "published" in proc.stdout and "simulated" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snp-heritability", "1.5"], "the genetic share of shape variance must be in [0, 1]"),
        (["--snp-heritability", "0.9"], "must sum to <= 1"),
        (["--loci", "-3"], "n_regional_loci must be a whole number >= 0"),
        (["--max-locus-share", "0"], "max_locus_share = 0.0 is out of range"),
        (["--regional-share", "2"], "regional_share = 2.0 is out of range"),
    ],
)
def test_bad_preset_overrides_are_one_line_errors(tmp_path, args, message):
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "c"), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_bad_architecture_in_code_is_a_clear_error():
    with pytest.raises(GenofaceError, match="n_background_snps must be a whole number"):
        GeneticArchitecture(n_background_snps=-1)
    with pytest.raises(GenofaceError, match="unknown genetic architecture settings"):
        get_preset("realistic").customized(n_loci=3)
