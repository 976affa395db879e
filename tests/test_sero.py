"""The sero model: face-to-DNA classifiers fused into a log-likelihood score (Sero et al. 2019)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from scipy.stats import norm

import genoface.models._sero as sero
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate import identification_metrics
from genoface.features import covariate_arrays
from genoface.genetics import align_dosages
from genoface.models import FaceModel, make_model


@pytest.fixture(scope="module")
def split(sim_strong) -> tuple[Cohort, Cohort]:
    return Cohort.load(sim_strong.cohort.path).split(0.2, seed=0)


@pytest.fixture(scope="module")
def fitted(split) -> sero.SeroModel:
    return make_model("sero").fit(split[0])


# ---- the face-to-genotype classifier alone ----------------------------------------------------------


def _locus(n: int, effect: float, seed: int, n_train: int = 800) -> tuple[np.ndarray, np.ndarray]:
    """Face scores (n, 8) in which one SNP (ALT frequency 0.3) moves one direction, whitened by
    the first ``n_train`` people's covariance (as the model whitens its shape PCs)."""
    rng = np.random.default_rng(seed)
    g = rng.binomial(2, 0.3, size=n).astype(float)
    direction = np.zeros(8)
    direction[:2] = [0.8, 0.6]
    z = rng.normal(size=(n, 8)) + effect * (g - 0.6)[:, None] * direction
    var, vec = np.linalg.eigh(np.cov(z[:n_train].T))
    z = (z - z[:n_train].mean(axis=0)) @ vec / np.sqrt(var)
    return z, g[:, None]


def test_snp_classifier_recovers_a_strong_locus():
    z, g = _locus(1200, effect=1.0, seed=0)
    train, test = slice(0, 800), slice(800, None)
    w, o, c, log_prior = sero._fit_snp_classifiers(z[train], g[train], prior_count=1.0)
    np.testing.assert_allclose(np.exp(log_prior).sum(axis=1), 1.0)
    s = z[test] @ w.T - o
    ll = sero._genotype_log_likelihood(s, g[test], c, log_prior, 1.0)
    baseline = sero._genotype_log_likelihood(s, g[test], c, log_prior, 0.0)  # t = 0: the HWE-style prior
    assert (ll - baseline) / 400 > 0.1  # nats per held-out person (measured: 0.16)
    proba = sero._genotype_log_odds(s, c, log_prior, 1.0)[:, 0].argmax(axis=1)
    majority = (g[test, 0] == 0).mean()  # genotype 0 is the most common class (0.49)
    assert (proba == g[test, 0]).mean() > majority + 0.1


def test_snp_classifier_without_signal_or_rare_class_stays_calibrated():
    z, g = _locus(1200, effect=0.0, seed=1)
    g[:800][g[:800] == 2] = 1  # the ALT homozygote is absent from training
    w, o, c, log_prior = sero._fit_snp_classifiers(z[:800], g[:800], prior_count=1.0)
    assert np.isfinite(log_prior).all() and log_prior[0, 2] < np.log(0.01)
    s = z[800:] @ w.T - o
    ll = sero._genotype_log_likelihood(s, g[800:], c, log_prior, 1.0)
    baseline = sero._genotype_log_likelihood(s, g[800:], c, log_prior, 0.0)
    assert np.isfinite(ll) and abs(ll - baseline) / 400 < 0.02  # no signal, no confidence


# ---- the fused score ------------------------------------------------------------------------------


def test_fused_score_identifies_better_than_chance(fitted, split):
    test = split[1]
    dna = identification_metrics(fitted.score_matrix(test, test.faces))
    cov = identification_metrics(fitted.score_matrix(test, test.faces, test.covariates))
    # Chance: top1 = 1/300, R10 = 0.1, auc = 0.5 (measured: ~0.2, ~0.85, ~0.94).
    assert dna["top1"] > 0.05 and dna["R10"] > 0.5 and dna["auc"] > 0.8
    assert cov["top1"] >= dna["top1"] and cov["R10"] >= dna["R10"] and cov["auc"] >= dna["auc"]
    # The posterior-mean face beats the population mean face when age and BMI are given.
    err = lambda p: np.linalg.norm(p - test.faces, axis=2).mean()  # noqa: E731
    assert err(fitted.predict(test, test.covariates)) < err(np.broadcast_to(split[0].faces.mean(0), test.faces.shape))


def _direct_scores(model, genotypes, faces, covariates, snps: bool = True) -> np.ndarray:
    """The fused score pair by pair, SNP by SNP, from the model's stored arrays (slow)."""
    z = model.shape_pca_.transform(np.asarray(faces, float)) / np.sqrt(model.shape_pca_.explained_variance_)
    g = align_dosages(genotypes.genotypes, genotypes.variants["id"], model.snps_)
    people = model.demographics_.transform(genotypes, covariates)
    pcs, male = people.pcs, people.male  # P(male): the genetic call, or the recorded sex
    cov = covariate_arrays(genotypes.sample_ids, covariates)
    t, dosages = model.snp_weight_, np.arange(3)
    out = np.zeros((len(g), len(z)))
    for i in range(len(g)):
        for j in range(len(z)):
            total = 0.0
            for k in np.flatnonzero(~np.isnan(g[i])) if snps else []:
                s = z[j] @ model.snp_dir_[k] - model.snp_offset_[k]
                logit = model.snp_log_prior_[k] + t * (dosages * s - 0.5 * dosages**2 * model.snp_curv_[k])
                d = int(g[i, k])
                total += logit[d] - logsumexp(logit) - model.snp_log_prior_[k, d]
            q = expit(model.sex_map_.predict(z[j : j + 1])[0, 0])
            prior = model.male_share_
            total += np.log(male[i] * q / prior + (1 - male[i]) * (1 - q) / (1 - prior))
            pred = model.anc_map_.predict(z[j : j + 1])[0]
            total += (
                norm.logpdf(pcs[i], pred, np.sqrt(model.anc_resid_var_))
                - norm.logpdf(pcs[i], model.anc_mean_, np.sqrt(model.anc_var_))
            ).sum()
            if cov["age"] is not None and not np.isnan([cov["age"][i], cov["bmi"][i]]).any():
                y = np.array([cov["age"][i], cov["bmi"][i]])
                pred = model.cov_map_.predict(z[j : j + 1])[0]
                total += (
                    norm.logpdf(y, pred, np.sqrt(model.cov_resid_var_))
                    - norm.logpdf(y, model.cov_mean_, np.sqrt(model.cov_var_))
                ).sum()
            out[i, j] = total
    return out


@pytest.fixture(scope="module")
def small(split) -> Cohort:
    """8 test people, some calls missing, one without age (no age/BMI term in dna+cov)."""
    test = split[1].subset(np.arange(8))
    g = np.array(test.genotypes, copy=True)
    g[np.random.default_rng(0).random(g.shape) < 0.2] = -1
    cov = test.covariates.copy()
    cov.iloc[2, cov.columns.get_loc("age")] = np.nan
    return replace(test, genotypes=g, covariates=cov)


def test_score_matrix_equals_direct_sum(fitted, small, monkeypatch):
    monkeypatch.setattr(sero, "_BLOCK", 3)  # several face blocks
    faces = small.faces[:7]
    assert fitted.has_sex_
    for covariates in (None, small.covariates):
        direct = _direct_scores(fitted, small, faces, covariates)
        np.testing.assert_allclose(fitted.score_matrix(small, faces, covariates), direct, rtol=1e-9, atol=1e-8)


def test_missing_genotypes_contribute_nothing(fitted, small):
    g = np.array(small.genotypes, copy=True)
    g[:, np.isin(small.variants["id"].to_numpy(), fitted.snps_)] = -1
    masked = replace(small, genotypes=g)
    only_sex_and_ancestry = _direct_scores(fitted, masked, small.faces, None, snps=False)
    np.testing.assert_allclose(fitted.score_matrix(masked, small.faces), only_sex_and_ancestry, rtol=1e-9, atol=1e-8)
    # ... and masking one SNP in one genome changes only that genome's row.
    full = fitted.score_matrix(small, small.faces)
    g = np.array(small.genotypes, copy=True)
    g[0, int(np.flatnonzero(small.variants["id"].to_numpy() == fitted.snps_[0])[0])] = -1
    one = fitted.score_matrix(replace(small, genotypes=g), small.faces)
    np.testing.assert_array_equal(one[1:], full[1:])


def test_save_load_keeps_scores_and_predictions(fitted, small, tmp_path):
    loaded = FaceModel.load(fitted.save(tmp_path / "m"))
    assert loaded.snp_weight_ == fitted.snp_weight_ and 0 < fitted.snp_weight_ < 2
    for covariates in (None, small.covariates):
        np.testing.assert_array_equal(
            loaded.score_matrix(small, small.faces, covariates), fitted.score_matrix(small, small.faces, covariates)
        )
        np.testing.assert_array_equal(loaded.predict(small, covariates), fitted.predict(small, covariates))


def test_bad_input_is_refused(fitted, small, split):
    foreign = small.variants.assign(id=[f"other{i}" for i in range(len(small.variants))])
    # Other ids but the same positions: the allele matcher finds them by chromosome and position.
    np.testing.assert_allclose(
        fitted.score_matrix(replace(small, variants=foreign), small.faces), fitted.score_matrix(small, small.faces)
    )
    elsewhere = foreign.assign(chrom="22")
    with pytest.raises(GenofaceError, match=r"none of the sero model's [\d,]+ variants is in the genotypes"):
        fitted.score_matrix(replace(small, variants=elsewhere), small.faces)
    with pytest.raises(GenofaceError, match="n_snps must be a positive integer, got 0"):
        make_model("sero", n_snps=0).fit(split[0])
    with pytest.raises(GenofaceError, match="at least 40 training people"):
        make_model("sero").fit(split[0].subset(np.arange(30)))
