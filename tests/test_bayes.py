"""The flagship ``bayes`` model, tested against theory: mr.mash's variational EB reduces to ridge
and to the exact Gaussian posterior when its prior is one normal; it returns the null when there
is no signal and recovers sparse effects better than least squares; the background's maximum-
likelihood heritability lands near the truth and its BLUP equals the textbook formula; the
covariate part integrates out what it is not told. On a simulated cohort the model predicts,
samples, scores and round-trips. (The generic estimator checks run on it in
test_estimator_checks.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genoface.cohort import Cohort
from genoface.features import PersonFeatures
from genoface.genetics import alt_frequencies, standardize, take_columns
from genoface.io import StoredDosages
from genoface.models import FaceModel, make_model
from genoface.models.bayes import (
    CovariatePart,
    Kernel,
    MixturePrior,
    StandardizedSNPs,
    canonical_prior,
    fit_background,
    fit_mr_mash,
    mixture_weights,
)


def _centred(a: np.ndarray) -> np.ndarray:
    return a - a.mean(0)


# ---- mr.mash ----------------------------------------------------------------------------------------------


def test_one_response_one_normal_is_ridge():
    rng = np.random.default_rng(0)
    x = _centred(rng.standard_normal((300, 40)))
    y = _centred(x @ rng.standard_normal((40, 1)) * 0.1 + rng.standard_normal((300, 1)))
    prior = MixturePrior(np.array([[[0.05]]]), np.array([1.0]), ["normal"])
    fit = fit_mr_mash(
        x, y, prior, residual_cov=np.eye(1), update_weights=False, update_residual_cov=False, tol=1e-12, max_iter=500
    )
    ridge = np.linalg.solve(x.T @ x + np.eye(40) / 0.05, x.T @ y)
    assert fit.converged
    np.testing.assert_allclose(fit.coef, ridge, atol=1e-8)


def test_one_normal_prior_gives_the_exact_multivariate_posterior():
    """With b_j ~ N(0, U) and rows of E ~ N(0, V), the posterior of vec(B) is Gaussian with
    precision X'X (x) V^-1 + I (x) U^-1; coordinate ascent must reach its mean."""
    rng = np.random.default_rng(1)
    n, p, d = 200, 6, 3
    x = _centred(rng.standard_normal((n, p)))
    a = rng.standard_normal((d, d))
    u, v = a @ a.T / d + 0.1 * np.eye(d), np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    y = _centred(x @ rng.multivariate_normal(np.zeros(d), u, p) + rng.multivariate_normal(np.zeros(d), v, n))
    prior = MixturePrior(u[None], np.array([1.0]), ["normal"])
    fit = fit_mr_mash(
        x, y, prior, residual_cov=v, update_weights=False, update_residual_cov=False, tol=1e-12, max_iter=1000
    )
    vinv = np.linalg.inv(v)
    precision = np.kron(x.T @ x, vinv) + np.kron(np.eye(p), np.linalg.inv(u))
    exact = np.linalg.solve(precision, (vinv @ y.T @ x).T.ravel())  # row-major vec(B)
    np.testing.assert_allclose(fit.coef.ravel(), exact, atol=1e-8)
    # the mean-field covariances are the inverse diagonal blocks of the precision
    np.testing.assert_allclose(fit.coef_cov[0], np.linalg.inv(precision[:d, :d]), atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_signal_returns_the_null(seed):
    rng = np.random.default_rng(seed)
    x = _centred(rng.standard_normal((400, 200)))
    y = _centred(rng.standard_normal((400, 4)))
    fit = fit_mr_mash(x, y, canonical_prior(x, y, np.cov(y, rowvar=False)))
    ols = np.linalg.lstsq(x, y, rcond=None)[0]
    explained = ((x @ fit.coef) ** 2).sum() / (y**2).sum()
    assert explained < 0.02 < ((x @ ols) ** 2).sum() / (y**2).sum() / 10
    # V is nearly all of y's variance (mean-field VB under-counts the effects' spread a little:
    # 200 SNPs on 400 people take up to ~5% of a component here)
    assert np.diag(fit.residual_cov) == pytest.approx(y.var(0), rel=0.1)


def test_recovers_sparse_effects_better_than_least_squares():
    rng = np.random.default_rng(3)
    n, p, d = 600, 300, 5
    x = _centred(rng.standard_normal((n, p)))
    b = np.zeros((p, d))
    b[:4] = rng.standard_normal((4, d)) * 0.25
    b[4, 2] = 0.3  # an effect on one component only
    y = _centred(x @ b + rng.standard_normal((n, d)))
    prior = canonical_prior(x, y, np.cov(y, rowvar=False))
    fit = fit_mr_mash(x, y, prior)
    ols = np.linalg.lstsq(x, y, rcond=None)[0]
    assert np.abs(fit.coef - b).sum() < 0.3 * np.abs(ols - b).sum()
    assert (fit.responsibilities[:5, 0] < 0.1).all()  # the causal rows leave the null
    assert np.abs(fit.coef[5:]).max() < 0.05
    assert fit.coef[4, 2] == pytest.approx(0.3, abs=0.06)
    assert np.abs(fit.coef[4, [0, 1, 3, 4]]).max() < 0.03  # and no spill onto the other components


def test_mixture_weights_are_the_maximum_likelihood_proportions():
    # Each row fits exactly one of three components: the weights are the row counts' shares.
    which = np.array([0] * 6 + [1] * 3 + [2] * 1)
    log_lik = np.where(np.arange(3)[None, :] == which[:, None], 0.0, -50.0)
    np.testing.assert_allclose(mixture_weights(log_lik, np.full(3, 1 / 3)), [0.6, 0.3, 0.1], atol=1e-6)


# ---- the polygenic background ----------------------------------------------------------------------------


@pytest.mark.parametrize("n, p", [(1000, 1500), (1500, 400)])
def test_background_heritability_and_blup(n, p):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((n, p))
    h2 = np.array([0.0, 0.3, 0.7])
    y = _centred(z @ (rng.standard_normal((p, 3)) * np.sqrt(h2 / p)) + rng.standard_normal((n, 3)) * np.sqrt(1 - h2))
    bg = fit_background(Kernel(z), y)
    assert bg.h2 == pytest.approx(h2, abs=0.15)
    assert bg.h2[0] < 0.1
    delta = (1 - bg.h2[2]) / bg.h2[2]
    k = z @ z.T / p
    # K is summed in float32 (the standardized dosages' own precision): agreement to 1e-5
    np.testing.assert_allclose(z @ bg.coef[:, 2], k @ np.linalg.solve(k + delta * np.eye(n), y[:, 2]), atol=1e-5)
    np.testing.assert_allclose(bg.fitted[:, 2], z @ bg.coef[:, 2], atol=1e-5)


# ---- the background at biobank scale: the p x p route, the cap, lazy cohorts -----------------------------


def test_primal_background_equals_the_dual(genetics_cohort):
    """With fewer SNPs than people, the eigenpairs come from Z'Z (p x p) and K's eigenvectors
    (n x r) are never formed; the background is the one the n x n route gives on the same SNPs."""
    g = genetics_cohort.genotypes
    cols = np.flatnonzero((genetics_cohort.variants["chrom"] != "X").to_numpy())[::60]
    freq = alt_frequencies(take_columns(g, cols))
    assert g.shape[0] > 2 * len(cols)
    rng = np.random.default_rng(9)
    h2 = np.array([0.0, 0.4, 0.8])
    z = standardize(take_columns(g, cols), freq).astype(np.float64)
    effects = rng.standard_normal((len(cols), 3)) * np.sqrt(h2 / len(cols))
    y = _centred(z @ effects + rng.standard_normal((len(g), 3)) * np.sqrt(1 - h2))
    primal, dual = Kernel(StandardizedSNPs(g, cols, freq)), Kernel(StandardizedSNPs(g, cols, freq), primal=False)
    assert primal.primal and primal.q is None and not dual.primal
    p, d = fit_background(primal, y), fit_background(dual, y)
    np.testing.assert_array_equal(primal.z.centre, dual.z.centre)
    assert d.h2[2] > 0.3  # a background to compare
    # both sum their Gram matrix in float32: agreement to its precision (Z'Z's entries, sums of
    # n = 300 products, are good to 1e-5 relative; the SNP effects solve with Z'Z + p delta I,
    # whose condition number, about 85 here at h2 = 0.8, multiplies that)
    for name in ("h2", "genetic_var", "residual_var", "reliability"):
        np.testing.assert_allclose(getattr(p, name), getattr(d, name), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(p.fitted, d.fitted, atol=1e-5 * np.abs(d.fitted).max())
    np.testing.assert_allclose(p.coef, d.coef, atol=1e-4 * np.abs(d.coef).max())


#: bayes with its background capped far below the 240 training people and their SNPs; no
#: sparse part (its prior takes most of a small fit's time).
_CAPPED = dict(n_snps=0, max_background_snps=100, n_backfit=2, random_state=0)


@pytest.fixture(scope="module")
def capped(genetics_cohort, tmp_path_factory):
    """The model fitted with ``_CAPPED`` on 240 of genetics_cohort's people read into memory,
    the same people lazily (their genotypes in the store), and the 60 others."""
    path = genetics_cohort.save(tmp_path_factory.mktemp("capped") / "c", genotype_format="bed")
    train, test = np.flatnonzero(np.arange(300) % 5 > 0), np.arange(0, 300, 5)
    eager = Cohort.load(path, lazy=False)
    lazy = Cohort.load(path, lazy=True).subset(train)
    return make_model("bayes", **_CAPPED).fit(eager.subset(train)), eager.subset(train), lazy, eager.subset(test)


def test_capped_background_is_thinned_evenly_and_round_trips(capped, tmp_path):
    model, train, _, test = capped
    freq = alt_frequencies(train.genotypes)
    eligible = (train.variants["chrom"] != "X").to_numpy() & (np.minimum(freq, 1 - freq) >= model.min_maf)
    picked = np.flatnonzero(np.isin(train.variants["id"].to_numpy()[eligible], model.bg_snps_))
    assert eligible.sum() > 1000
    assert len(model.bg_snps_) == len(picked) == model.bg_coef_.shape[0] == 100
    gaps = np.diff(picked)  # every (eligible / 100)-th SNP in genome order, from the first
    assert picked[0] == 0 and gaps.max() - gaps.min() <= 1
    pred = model.predict(test, test.covariates)
    assert np.isfinite(pred).all()
    loaded = FaceModel.load(model.save(tmp_path / "model"))
    assert loaded.get_params()["max_background_snps"] == 100
    np.testing.assert_allclose(loaded.predict(test, test.covariates), pred, rtol=0, atol=1e-9)


def test_bayes_on_a_lazy_cohort_equals_the_fit_in_memory(capped):
    """The store is read for the background's columns once (and by the calibration's half-fits
    and held-out predictions); the numbers are those of the cohort in memory."""
    model, _, lazy, _ = capped
    assert isinstance(lazy.genotypes, StoredDosages)
    fit = make_model("bayes", **_CAPPED).fit(lazy)
    expected = model.to_arrays()
    for key, value in fit.to_arrays().items():
        if np.asarray(value).dtype.kind == "f":
            np.testing.assert_allclose(value, expected[key], rtol=1e-9, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(value, expected[key], err_msg=key)


# ---- the covariate part ---------------------------------------------------------------------------------


def _people(n: int, rng, *, age=True, bmi=True) -> PersonFeatures:
    male = (rng.random(n) < 0.5).astype(float)
    return PersonFeatures(
        pcs=rng.standard_normal((n, 2)),
        male=male,
        age=rng.uniform(20, 80, n) if age else np.full(n, np.nan),
        bmi=rng.normal(25 + 2 * male, 4, n) if bmi else np.full(n, np.nan),
    )


def test_covariates_integrate_out_what_is_not_recorded():
    rng = np.random.default_rng(5)
    people = _people(3000, rng)
    y = np.column_stack(
        [
            3 * people.male + 0.05 * (people.age - 50) ** 2 / 10 + rng.normal(0, 1, 3000),
            0.2 * people.bmi * (1 + people.male) + rng.normal(0, 1, 3000),  # BMI by sex
        ]
    )
    part = CovariatePart().fit(people, y)
    fitted = part.fit_coef(people, y)
    assert part.interactions_  # the BMI slope differs by sex
    assert np.mean((y - fitted) ** 2, axis=0) == pytest.approx([1.0, 1.0], rel=0.1)
    unknown = PersonFeatures(pcs=people.pcs, male=people.male, age=None, bmi=None)
    mean, cov = part.moments(unknown)
    for s in (0.0, 1.0):  # given sex only: the mean over that sex's people, their spread as covariance
        rows = people.male == s
        np.testing.assert_allclose(mean[rows].mean(0), fitted[rows].mean(0), atol=0.1)
        assert np.diag(cov[rows].mean(0)) == pytest.approx(fitted[rows].var(0), rel=0.15)
    half = PersonFeatures(pcs=people.pcs, male=np.full(3000, 0.5), age=people.age, bmi=people.bmi)
    m_half, c_half = part.moments(half)  # sex unknown: the two sexes' predictions mixed
    assert c_half[:, 0, 0].mean() == pytest.approx(0.25 * 3.0**2, rel=0.15)


# ---- the model on a simulated cohort -----------------------------------------------------------------


@pytest.fixture(scope="module")
def split(sim_strong):
    cohort = sim_strong.cohort
    return cohort.subset(np.arange(600)), cohort.subset(np.arange(1300, 1500))


@pytest.fixture(scope="module")
def fitted(split):
    return make_model("bayes", n_snps=200, random_state=0).fit(split[0])


def test_model_predicts_samples_and_matches(fitted, split):
    train, test = split
    faces = np.asarray(test.faces, dtype=np.float64)
    pred = fitted.predict(test, test.covariates)
    mean_face = np.asarray(train.faces, dtype=np.float64).mean(0)
    err_model = np.linalg.norm(pred - faces, axis=2).mean()
    err_mean = np.linalg.norm(mean_face - faces, axis=2).mean()
    assert err_model < 0.9 * err_mean
    draws = fitted.sample(test.subset(np.arange(3)), 400, seed=1, covariates=test.covariates)
    assert draws.shape == (3, 400, test.n_vertices, 3)
    standard_error = draws.std(1) / np.sqrt(400)
    assert (np.abs(draws.mean(1) - pred[:3]) < 5 * standard_error + 1e-9).mean() > 0.999
    np.testing.assert_array_equal(
        draws, fitted.sample(test.subset(np.arange(3)), 400, seed=1, covariates=test.covariates)
    )
    scores = fitted.score_matrix(test, faces, test.covariates)
    ranks = (scores > np.diag(scores)[:, None]).sum(1) + 1
    assert np.mean(ranks == 1) > 10 / len(ranks)  # far above chance (1 in 200)
    assert fitted.calibration_[:, 0].min() > 0  # a higher raw ratio is more evidence
    assert fitted.genetic_scale_[0] > 0.5  # strong loci: the sparse part carries over to new people


def test_genetic_scale_keeps_what_predicts_new_people_and_drops_noise():
    """Held out, a part whose predictions are the genetic values keeps a scale of about 1; one
    that predicts noise gets 0; one that over-predicts twofold (1/2 held out) gets 2/3 for the
    whole cohort, which has twice the people."""
    from types import SimpleNamespace

    from genoface.models.bayes._model import GeneticMoments, _genetic_scale, _HeldOut

    rng = np.random.default_rng(8)
    n, d = 500, 6
    model = SimpleNamespace(
        demographics_=SimpleNamespace(transform=lambda people, covariates: None),
        covariates_=SimpleNamespace(moments=lambda people: (np.zeros((n, d)), None)),
        shape_pca_=SimpleNamespace(transform=lambda faces: faces),
    )
    people = SimpleNamespace(covariates=None)

    def held(sparse, background, genetic, noise):
        moments = GeneticMoments(sparse, background, np.zeros((n, d, d)))
        return _HeldOut(model, people, genetic + noise, moments)

    genetic, noise = rng.standard_normal((2, n, d))
    unrelated = rng.standard_normal((n, d))
    np.testing.assert_allclose(_genetic_scale([held(genetic, unrelated, genetic, noise)]), [1.0, 0.0], atol=0.1)
    np.testing.assert_allclose(_genetic_scale([held(unrelated, 2 * genetic, genetic, noise)]), [0.0, 2 / 3], atol=0.1)
    # a part with no SNPs keeps 1: it adds nothing either way
    assert _genetic_scale([held(np.zeros((n, d)), genetic, genetic, noise)])[0] == 1.0


def test_unknown_age_widens_the_predictive_distribution(fitted, split):
    test = split[1]
    _, cov_known, known = fitted.predictive(test, test.covariates)
    no_age = test.covariates.assign(age=np.nan)
    _, cov_unknown, known_after = fitted.predictive(test, no_age)
    assert known.all() and not known_after.any()
    assert (np.trace(cov_unknown, axis1=1, axis2=2) > np.trace(cov_known, axis1=1, axis2=2)).all()


def test_bad_parameters_are_one_line_errors(split):
    from genoface.core.errors import GenofaceError

    with pytest.raises(GenofaceError, match="n_snps"):
        make_model("bayes", n_snps=-1).fit(split[0])
    with pytest.raises(GenofaceError, match="max_background_snps"):
        make_model("bayes", max_background_snps=0).fit(split[0])
    with pytest.raises(GenofaceError, match="at least 40"):
        make_model("bayes").fit(split[0].subset(np.arange(30)))


def test_covariates_frame_is_optional(fitted, split):
    test = split[1]
    without = fitted.predict(test)
    with_sex_only = fitted.predict(test, pd.DataFrame({"sex": test.covariates["sex"]}, index=test.covariates.index))
    assert without.shape == with_sex_only.shape
    assert np.isfinite(without).all() and np.isfinite(with_sex_only).all()


def test_calibrated_ratio_averages_one_over_other_peoples_faces(fitted, split):
    """E[LR | the face is someone else's] = 1 for any likelihood ratio; the calibration's intercept
    is set so on training people, so it must hold on held-out people too (within sampling error:
    200 genomes x 199 faces, heavy-tailed)."""
    train, test = split
    for covariates in (None, test.covariates):
        scores = fitted.score_matrix(test, np.asarray(test.faces, dtype=np.float64), covariates)
        others = scores[~np.eye(len(scores), dtype=bool)]
        assert abs(np.log(np.mean(np.exp(others)))) < 0.5
        assert np.median(np.diag(scores)) > 0  # a true pair is more often evidence for than against
