"""``bayes``: genoface's own model. A multivariate Bayesian regression of the face's shape-space
scores on three parts fitted together by backfitting:

- the demographic part, not shrunk (:mod:`._covariates`): sex, ancestry PCs, an age spline and
  BMI, by sex where the data support it;
- sparse effects of thousands of GWAS-selected SNPs on all shape components at once, under a
  mixture prior over sharing patterns fitted by variational empirical Bayes (:mod:`._mrmash`);
- a polygenic background, GBLUP on all SNPs with per-component variances by maximum
  likelihood (:mod:`._background`).

Each genome gets a predictive distribution over shape scores, N(mu, Sigma): the residual
covariance, plus what its record leaves unknown (age, BMI, an uncertain sex) integrated out,
plus the sparse effects' posterior uncertainty and the background's prediction error. ``predict``
returns the mean face, ``sample`` draws faces, and ``score_matrix`` matches by the likelihood
ratio log N(y; mu, Sigma) - log N(y; population), calibrated into a log likelihood ratio by a
logistic map learnt on held-out halves of the training people. The same halves set how much of
each genetic part's prediction to keep (a scale in [0, 1]): where the selected SNPs' effects
do not carry over to new people, as in a polygenic cohort too small for its architecture, the
model falls back to its demographic part instead of adding their noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.optimize import lsq_linear
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

from genoface.core.errors import GenofaceError
from genoface.core.schema import non_autosomal
from genoface.core.state import with_prefix, without_prefix
from genoface.features import DemographicFeatures, PersonFeatures, select_face_snps
from genoface.genetics import AncestryPCA, alt_frequencies, standardize, take_columns, variant_columns
from genoface.models._base import FaceModel, genotype_arrays
from genoface.models._registry import register_model
from genoface.models.bayes._background import Kernel, StandardizedSNPs, fit_background, thin_evenly
from genoface.models.bayes._covariates import CovariatePart
from genoface.models.bayes._mrmash import (
    MixturePrior,
    canonical_prior,
    fit_mr_mash,
    prior_weights_from_marginals,
)
from genoface.shape import ShapePCA

Progress = Callable[[str, int, int], None]

#: SNPs drawn at random to learn the prior's mixture weights.
_PRIOR_SNPS = 2000
#: Non-matching pairs drawn per held-out half to calibrate the scores (all matching pairs are used).
_CALIBRATION_PAIRS = 20_000
#: Training people whose non-matching pairs set the calibration's intercept.
_INTERCEPT_PEOPLE = 1000
#: The two states of knowledge whose scores are calibrated apart: the genome alone, and the
#: genome with age, sex and BMI recorded.
_STATES = ("dna", "dna+cov")
#: Dosages standardized at once when predicting (people x SNPs, 128 MB in float64): 1,000
#: people x 100,000 SNPs whole would take 0.8 GB.
_PREDICT_BLOCK = 2**24
#: Genomes scored against all faces at once.
_SCORE_BLOCK = 1024


@register_model
class BayesModel(FaceModel):
    """Multivariate Bayesian regression of shape scores with calibrated likelihood-ratio matching.

    Parameters
    ----------
    n_shape_components : shape PCs modelled (and matched).
    n_pcs : ancestry principal components.
    n_snps : SNPs given sparse effects, chosen by the multivariate GWAS inside the training
        people and clumped within ``clump_bp``; 0 for none.
    clump_bp : keep only the best SNP within this distance on a chromosome.
    background : fit the polygenic background (GBLUP on all autosomal SNPs).
    min_maf : minor-allele frequency below which a SNP is left out of the background.
    max_background_snps : the cap on the background's kernel. With n people and p background
        SNPs the kernel is n x n when n <= p and p x p (Z'Z) when n > p. When both n and p
        exceed the cap, the background SNPs are thinned evenly along the genome to the cap and
        the p x p route is taken, so no n x n matrix is formed (at 100,000 people: 80 GB) and
        no kernel is larger than cap x cap (10,000: 0.8 GB). The default leaves every cohort of
        up to 10,000 people as it was (at 10,000 x 100,000 the n x n route). Thinning is an
        approximation, GBLUP on the thinned SNPs: linkage disequilibrium makes neighbouring
        SNPs partly redundant, so the thinned SNPs carry much of the background, not all of
        it (docs/bayes.md measures the loss). It is chosen because the exact alternatives
        cost hours at 100,000 people: conjugate gradients need a pass over the 10 GB of
        genotypes per iteration, tens of iterations per solve and solves at many
        heritabilities per component, and the full kernel is an 80 GB matrix.
    n_backfit : backfitting rounds of the three parts.
    calibrate : learn, on held-out halves (two more fits on half the people each), the scale of
        each genetic part's prediction and the score-to-likelihood-ratio map; without, the
        scales are 1 and the scores raw.
    scale_genetic : learn the genetic parts' scales in the calibration (False keeps them at 1,
        for the ablation).
    full_covariance : match with the full predictive covariance; False keeps only its
        diagonal (independent shape components, as ``lippert`` matches), for the ablation.
    random_state : seed of the ancestry PCA and of the calibration halves.
    """

    name = "bayes"
    score_is_log_lr = True

    def __init__(
        self,
        n_shape_components: int = 30,
        n_pcs: int = 4,
        n_snps: int = 2000,
        clump_bp: int = 20_000,
        background: bool = True,
        min_maf: float = 0.01,
        max_background_snps: int = 10_000,
        n_backfit: int = 3,
        calibrate: bool = True,
        scale_genetic: bool = True,
        full_covariance: bool = True,
        random_state: int = 0,
    ) -> None:
        self.n_shape_components = n_shape_components
        self.n_pcs = n_pcs
        self.n_snps = n_snps
        self.clump_bp = clump_bp
        self.background = background
        self.min_maf = min_maf
        self.max_background_snps = max_background_snps
        self.n_backfit = n_backfit
        self.calibrate = calibrate
        self.scale_genetic = scale_genetic
        self.full_covariance = full_covariance
        self.random_state = random_state

    # ---- fitting ---------------------------------------------------------------------------------

    def fit(self, cohort, progress: Progress | None = None) -> Self:
        return self._fit(cohort, progress or (lambda stage, done, total: None))

    def _fit(self, cohort, progress: Progress, ancestry: AncestryPCA | None = None) -> Self:
        """:meth:`fit`; ``ancestry``, a fitted ancestry PCA to share instead of fitting one."""
        n = cohort.n_samples
        if n < 40:
            raise GenofaceError(f"the {self.name} model needs at least 40 training people, got {n}")
        if int(self.n_snps) < 0 or int(self.n_backfit) < 1 or not 0 <= float(self.min_maf) < 0.5:
            raise GenofaceError(
                f"bayes needs n_snps >= 0, n_backfit >= 1 and 0 <= min_maf < 0.5; got {self.n_snps}, "
                f"{self.n_backfit}, {self.min_maf}"
            )
        if int(self.max_background_snps) < 1:
            raise GenofaceError(f"bayes needs max_background_snps >= 1, got {self.max_background_snps}")
        # first: the panel's ALT frequencies are the background's too (one pass over the
        # genotypes fewer: at 100,000 x 100,000 a pass reads 10 GB)
        self._remember_cohort(cohort)
        self._fit_parts(cohort, progress, ancestry)
        self.fitted_ = True
        self.genetic_scale_ = np.ones(2)
        self.calibration_ = np.array([[1.0, 0.0], [1.0, 0.0]])
        if self.calibrate:
            self._calibration(cohort, progress)
        return self

    def _fit_demographics(self, cohort, ancestry: AncestryPCA | None) -> tuple[np.ndarray, PersonFeatures]:
        """Shape scores of the training faces and the training people's demographic features;
        the covariate part's bases and moments."""
        faces = cohort.faces
        self.n_vertices_ = cohort.n_vertices
        self.shape_pca_ = ShapePCA(n_components=min(int(self.n_shape_components), cohort.n_samples - 2)).fit(faces)
        y = self.shape_pca_.transform(faces)
        self.population_var_ = y.var(0)
        self.demographics_ = DemographicFeatures(self.n_pcs, self.random_state)
        people = self.demographics_.fit(cohort, self.name, ancestry=ancestry)
        full = people.complete
        if full is None or full.sum() < 20:
            have = 0 if full is None else int(full.sum())
            raise GenofaceError(f"only {have} training people have both age and BMI; bayes needs at least 20")
        self.covariates_ = CovariatePart().fit(people, y)
        return y, people

    def _fit_parts(self, cohort, progress: Progress, ancestry: AncestryPCA | None) -> None:
        y, people = self._fit_demographics(cohort, ancestry)
        progress("bayes: SNPs", 0, 1)
        self.snps_, xs = self._sparse_snps(cohort, y, people)
        self.bg_snps_, zb = self._background_snps(cohort)
        kernel = None
        if zb is not None:
            progress("bayes: background kernel", 0, 1)
            kernel = Kernel(zb)
            self.bg_centre_ = zb.centre  # computed by the kernel's pass over the SNPs
        fit = self._backfit(cohort, y, people, xs, kernel, progress)
        self._keep_parts(y, xs, kernel, fit)

    def _backfit(self, cohort, y, people, xs, kernel, progress: Progress) -> dict[str, Any]:
        """Each part refitted in turn to what the other two leave, ``n_backfit`` rounds; the
        last round's fits and contributions."""
        g_sparse, g_bg = np.zeros_like(y), np.zeros_like(y)
        coef, sparse, bg = None, None, None
        for round_ in range(int(self.n_backfit)):
            progress("bayes: backfitting", round_, int(self.n_backfit))
            # Only the last round's posterior covariances and background SNP effects are kept:
            # the SNP effects take a pass over all the SNPs; until then the BLUP of the
            # training people's genetic values, Z beta, is what backfitting needs.
            last = round_ == int(self.n_backfit) - 1
            c = self.covariates_.fit_coef(people, y - g_sparse - g_bg)
            if xs.shape[1]:
                target = y - c - g_bg
                target = target - target.mean(0)
                if coef is None:
                    self.prior_ = self._prior(cohort, xs, target)
                sparse = fit_mr_mash(
                    xs,
                    target,
                    self.prior_,
                    coef_init=coef,
                    update_weights=False,
                    max_iter=50,
                    tol=1e-3,
                    posterior_covariances=last,
                )
                coef = sparse.coef
                g_sparse = xs @ coef
            if kernel is not None:
                target = y - c - g_sparse
                bg = fit_background(kernel, target - target.mean(0), snp_effects=last)
                g_bg = bg.fitted
        progress("bayes: backfitting", int(self.n_backfit), int(self.n_backfit))
        return {"c": c, "g_sparse": g_sparse, "g_bg": g_bg, "sparse": sparse, "bg": bg}

    def _keep_parts(self, y, xs, kernel, fit: dict[str, Any]) -> None:
        """The fitted parts' state, and the residual covariance on its degrees of freedom."""
        d, n = y.shape[1], len(y)
        sparse, bg = fit["sparse"], fit["bg"]
        if xs.shape[1]:
            # kept in float32 precision (the saved model's), so that a loaded model scores the same
            self.sparse_coef_, self.sparse_cov_ = sparse.coef, sparse.coef_cov.astype(np.float32).astype(np.float64)
            self.prior_weights_ = sparse.weights
            # Degrees of freedom per component, as trace of the hat matrix in ridge: each SNP's
            # posterior variance against its sampling variance (1 unshrunk, 0 at the null).
            xx = (xs**2).sum(0)
            sparse_df = np.einsum("j,jcc->c", xx, sparse.coef_cov) / np.diag(sparse.residual_cov)
        else:
            self.sparse_coef_, self.sparse_cov_ = np.zeros((0, d)), np.zeros((0, d, d))
            self.prior_weights_, sparse_df = np.zeros(0), np.zeros(d)
        if kernel is not None:
            self.bg_coef_ = bg.coef.astype(np.float32)
            self.bg_h2_ = bg.h2
            # A new genome's background error: the genetic variance its BLUP does not reach.
            bg_error = bg.genetic_var * (1 - bg.reliability)
            bg_df = np.array([(h * kernel.lam / (h * kernel.lam + 1 - h)).sum() for h in bg.h2])
        else:
            self.bg_coef_, self.bg_h2_ = np.zeros((0, d), dtype=np.float32), np.zeros(d)
            bg_error, bg_df = np.zeros(d), np.zeros(d)
        resid = y - fit["c"] - fit["g_sparse"] - fit["g_bg"]
        resid = resid - resid.mean(0)
        df = self.covariates_.n_columns_ + sparse_df + bg_df  # per component
        # Residual variance on n - df degrees of freedom, as RSS / (n - p) in least squares.
        inflate = np.sqrt(n / np.maximum(n - df, 1.0))
        self.residual_cov_ = (resid.T @ resid / n) * np.outer(inflate, inflate) + np.diag(bg_error)

    def _prior(self, cohort, xs: np.ndarray, target: np.ndarray) -> MixturePrior:
        """The mixture prior: sharing patterns from the selected SNPs' marginal effects, weights
        learnt on SNPs drawn at random from the autosomes (not on the selected ones: see
        :func:`prior_weights_from_marginals`)."""
        v = np.cov(target, rowvar=False)
        prior = canonical_prior(xs, target, v)
        auto = np.flatnonzero(~non_autosomal(cohort.variants["chrom"]))
        rng = np.random.default_rng(self.random_state)
        cols = np.sort(rng.choice(auto, min(len(auto), _PRIOR_SNPS), replace=False))
        g = take_columns(cohort.genotypes, cols)
        z = standardize(g, alt_frequencies(g)).astype(np.float64)
        z -= z.mean(0)  # in place: at 100,000 people z is 1.6 GB
        prior.weights = prior_weights_from_marginals(z, target, prior, v)
        return prior

    def _sparse_snps(self, cohort, y: np.ndarray, people) -> tuple[np.ndarray, np.ndarray]:
        """The GWAS-selected SNPs' ids and their standardized, centred dosages."""
        if int(self.n_snps) == 0:
            self.sparse_freq_, self.sparse_centre_ = np.zeros(0), np.zeros(0)
            return np.array([], dtype=str), np.zeros((cohort.n_samples, 0))
        cols = select_face_snps(cohort, y, people.genome_block(), int(self.n_snps), self.clump_bp)
        snps = cohort.variants["id"].to_numpy()[cols].astype(str)
        g = take_columns(cohort.genotypes, cols)
        self.sparse_freq_ = alt_frequencies(g)
        z = standardize(g, self.sparse_freq_).astype(np.float64)
        self.sparse_centre_ = z.mean(0)
        # Fortran order: mr.mash reads one SNP's column at a time
        return snps, np.asfortranarray(z - self.sparse_centre_)

    def _background_snps(self, cohort) -> tuple[np.ndarray, StandardizedSNPs | None]:
        """The autosomal SNPs of the background (minor-allele frequency >= ``min_maf``; thinned
        evenly to ``max_background_snps`` when there are more of them and more people than
        that) and their standardized, centred dosages, read block by block from the genotypes
        (whole, at 10,000 people x 100,000 SNPs, they would take 4 GB in float32); None
        without any. A lazy cohort's store is read once, for these columns only."""
        self.bg_freq_, self.bg_centre_ = np.zeros(0), np.zeros(0, dtype=np.float32)
        if not self.background:
            return np.array([], dtype=str), None
        freq = self.panel_["af"].to_numpy()  # alt_frequencies(cohort.genotypes), by _remember_cohort
        maf = np.minimum(freq, 1 - freq)
        cols = np.flatnonzero(~non_autosomal(cohort.variants["chrom"]) & (maf >= float(self.min_maf)))
        if cohort.n_samples > int(self.max_background_snps):
            cols = thin_evenly(cols, int(self.max_background_snps))
        if len(cols) == 0:
            return np.array([], dtype=str), None
        self.bg_freq_ = freq[cols]
        z = StandardizedSNPs(cohort.genotypes, cols, self.bg_freq_)
        return cohort.variants["id"].to_numpy()[cols].astype(str), z

    def _calibration(self, cohort, progress: Progress) -> None:
        """What is learnt on held-out halves of the training people (fit on one half, predict
        the other, and the other way round): the scale of each genetic part, then the map
        from raw score to log likelihood ratio."""
        halves = self._held_out_halves(cohort, progress)
        if self.scale_genetic:
            self.genetic_scale_ = _genetic_scale(halves)
        self.calibration_ = self._score_calibration(halves, cohort)

    def _held_out_halves(self, cohort, progress: Progress) -> list[_HeldOut]:
        """The two half-fits, each with the other half's people and their genetic moments."""
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(cohort.n_samples)
        halves = (order[: len(order) // 2], order[len(order) // 2 :])
        out = []
        for i, (a, b) in enumerate((halves, halves[::-1])):
            progress("bayes: calibration", i, 2)
            params = self.get_params() | {"calibrate": False}
            # The half-fits share the full fit's ancestry PCA: it sees genotypes only, never
            # faces, so the held-out half's faces stay unseen; and at 100,000 people a PCA fit
            # takes about 12 minutes.
            half = type(self)(**params)._fit(cohort.subset(a), lambda *_: None, self.demographics_.ancestry_)
            test = cohort.subset(b)
            faces = test.faces
            out.append(_HeldOut(half, test, faces, half._genetic_moments(half.on_panel(test))))
        progress("bayes: calibration", 2, 2)
        return out

    def _score_calibration(self, halves: list[_HeldOut], cohort) -> np.ndarray:
        """(2, 2): slope and intercept, per state of knowledge, of the map from raw score to log
        likelihood ratio.

        The slope is a logistic regression's on each half's held-out genome-face pairs (all
        true pairs and a random sample of the others), scored with the genetic parts scaled,
        then carried from n/2 to n as the genetic scales are: it is the share of the raw score's
        spread that is signal, S / (S + N), and the noise N of estimated effects halves with
        twice the people. The half-fits' scores separate less than the full model's, so their
        own slope would shrink the full model's scores too much. The intercept then makes the
        likelihood ratio average 1 over non-matching pairs, as any likelihood ratio does under
        the hypothesis that the face is someone else's; the full model scores its own training
        genomes against the other training people's faces for that (a face that is not the
        genome's owner is not fitted to it)."""
        rng = np.random.default_rng(self.random_state)
        scores: dict[str, list[np.ndarray]] = {s: [] for s in _STATES}
        labels: list[np.ndarray] = []
        for held in halves:
            held.model.genetic_scale_ = self.genetic_scale_
            genome_rows, face_rows = _calibration_pairs(held.people.n_samples, rng)
            labels.append(genome_rows == face_rows)
            for state in _STATES:
                covariates = held.people.covariates if state == "dna+cov" else None
                pairs = (held.people, held.faces, covariates, held.genetic)
                scores[state].append(held.model._pair_scores(*pairs, genome_rows, face_rows))
        y = np.concatenate(labels)
        people = cohort.subset(np.sort(rng.permutation(cohort.n_samples)[:_INTERCEPT_PEOPLE]))
        faces = people.faces
        genetic = self._genetic_moments(self.on_panel(people))
        out = np.empty((2, 2))
        for k, state in enumerate(_STATES):
            x = np.concatenate(scores[state])[:, None]
            half = LogisticRegression(class_weight="balanced", C=1e4).fit(x, y).coef_[0, 0]
            slope = 2 * half / (1 + half) if half > 0 else 0.0
            raw, _ = self._raw_scores(people, faces, people.covariates if state == "dna+cov" else None, genetic)
            others = slope * raw[~np.eye(len(raw), dtype=bool)]
            out[k] = slope, np.log(len(others)) - logsumexp(others)
        return out

    # ---- the predictive distribution ------------------------------------------------------------------

    def predictive(
        self, genotypes, covariates: pd.DataFrame | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictive mean (n, K) and covariance (n, K, K) of each person's shape scores, and
        whether their age and BMI were recorded (n,)."""
        self._check_fitted()
        genotypes = self.on_panel(genotypes)
        return self._predictive(genotypes, covariates, self._genetic_moments(genotypes))

    def _predictive(self, genotypes, covariates, genetic: GeneticMoments):
        """:meth:`predictive` of genotypes already on the panel, given their
        :meth:`_genetic_moments` (which do not depend on the covariates)."""
        people = self.demographics_.transform(genotypes, covariates)
        mean, cov = self.covariates_.moments(people)
        sparse, bg = self.genetic_scale_
        mean = mean + sparse * genetic.sparse_mean + bg * genetic.background_mean
        cov = cov + sparse**2 * genetic.sparse_cov + self.residual_cov_
        known = people.complete if people.complete is not None else np.zeros(len(mean), dtype=bool)
        return mean, cov, known

    def _genetic_moments(self, genotypes) -> GeneticMoments:
        """What the SNPs add, unscaled, to the predictive mean, from the sparse part and the
        background, and to its covariance, from the sparse effects' uncertainty. Computed
        people block by block, so that the standardized dosages stay small (a lazy cohort's
        store is read once, for the model's SNPs only)."""
        _, g_all, variant_ids = genotype_arrays(genotypes)
        n, d = g_all.shape[0], len(self.residual_cov_)
        mean, bg_mean, cov = np.zeros((n, d)), np.zeros((n, d)), np.zeros((n, d, d))
        g_all, sparse_cols, bg_cols = _read_columns_once(
            g_all, variant_columns(variant_ids, self.snps_), variant_columns(variant_ids, self.bg_snps_)
        )
        sparse = (sparse_cols, self.sparse_freq_, self.sparse_centre_)
        bg = (bg_cols, self.bg_freq_, self.bg_centre_)
        sparse_cov = self.sparse_cov_.reshape(len(self.snps_), d * d)
        bg_coef = self.bg_coef_.astype(np.float64)
        rows = max(1, _PREDICT_BLOCK // max(len(self.snps_) + len(self.bg_snps_), 1))
        for r0 in range(0, n, rows):
            block, g = slice(r0, r0 + rows), g_all[r0 : r0 + rows]
            if len(self.snps_):
                xs = _standardized(g, *sparse)
                mean[block] += xs @ self.sparse_coef_
                cov[block] += ((xs**2) @ sparse_cov).reshape(-1, d, d)
            if len(self.bg_snps_):
                bg_mean[block] += _standardized(g, *bg) @ bg_coef
        return GeneticMoments(mean, bg_mean, cov)

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        mean, _, _ = self.predictive(genotypes, covariates)
        return self.shape_pca_.inverse_transform(mean).reshape(len(mean), self.n_vertices_, 3)

    def sample(self, genotypes, n: int, seed: int = 0, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """``n`` faces per person (n_people, n, V, 3) drawn from the predictive distribution."""
        if int(n) < 1:
            raise GenofaceError(f"n must be at least 1, got {n}")
        mean, cov, _ = self.predictive(genotypes, covariates)
        rng = np.random.default_rng(int(seed))
        chol = np.linalg.cholesky(cov)
        draws = mean[:, None, :] + np.einsum(
            "nab,nsb->nsa", chol, rng.standard_normal((len(mean), int(n), mean.shape[1]))
        )
        faces = self.shape_pca_.inverse_transform(draws.reshape(-1, mean.shape[1]))
        return faces.reshape(len(mean), int(n), self.n_vertices_, 3)

    # ---- matching ----------------------------------------------------------------------------------------

    def _score_inputs(self, genotypes, faces: np.ndarray, covariates, genetic=None):
        """What :meth:`_raw_scores` needs: the genomes' predictive means (n, K) and covariances
        (n, K, K), which had age and BMI recorded, the faces' shape scores (m, K) and their log
        density under the population, less its constant."""
        self._check_fitted()
        genotypes = self.on_panel(genotypes)
        genetic = self._genetic_moments(genotypes) if genetic is None else genetic
        mean, cov, known = self._predictive(genotypes, covariates, genetic)
        if not self.full_covariance:
            cov = cov * np.eye(cov.shape[1])
        y = self.shape_pca_.transform(faces)
        pop = -0.5 * ((y**2 / self.population_var_).sum(1) + np.log(self.population_var_).sum())
        return mean, cov, known, y, pop

    def _raw_scores(self, genotypes, faces: np.ndarray, covariates, genetic=None) -> tuple[np.ndarray, np.ndarray]:
        """log N(y_j; mu_i, Sigma_i) - log N(y_j; 0, population covariance) for every genome i
        and face j (the denominator: a random person of the population, whose shape scores
        are centred with the training variances), and which genomes had age and BMI recorded.
        ``genetic``: the genomes' :meth:`_genetic_moments`, when already computed."""
        mean, cov, known, y, pop = self._score_inputs(genotypes, faces, covariates, genetic)
        # (y_j - mu_i)' P_i (y_j - mu_i) = y_j' P_i y_j - 2 mu_i' P_i y_j + mu_i' P_i mu_i with
        # P_i = Sigma_i^-1: the first term of every pair is one matrix product, (genomes, K^2)
        # by (K^2, faces), and the second another. Genomes a block at a time, to bound the
        # temporaries.
        d = y.shape[1]
        yy = (y[:, :, None] * y[:, None, :]).reshape(len(y), d * d).T  # (K^2, faces)
        out = np.empty((len(mean), len(y)))
        for i0 in range(0, len(mean), _SCORE_BLOCK):
            block = slice(i0, i0 + _SCORE_BLOCK)
            prec, pm, const = _precision_terms(mean[block], cov[block])
            rows = out[block]
            np.matmul(prec.reshape(-1, d * d), yy, out=rows)
            rows *= -0.5
            rows += pm @ y.T
            rows -= const[:, None]
            rows -= pop
        return out, known

    def _pair_scores(
        self, genotypes, faces: np.ndarray, covariates, genetic, genomes: np.ndarray, face_rows: np.ndarray
    ) -> np.ndarray:
        """The raw scores of :meth:`_raw_scores` of the pairs (genomes[k], face_rows[k]) only:
        the calibration's half-fits score a few pairs of n/2 x n/2 (50,000 x 50,000 whole would
        take 20 GB)."""
        mean, cov, _, y, pop = self._score_inputs(genotypes, faces, covariates, genetic)
        out = np.empty(len(genomes))
        order = np.argsort(genomes, kind="stable")
        bounds = np.searchsorted(genomes[order], np.arange(0, len(mean) + _SCORE_BLOCK, _SCORE_BLOCK))
        for b, i0 in enumerate(range(0, len(mean), _SCORE_BLOCK)):
            pairs = order[bounds[b] : bounds[b + 1]]
            if len(pairs) == 0:
                continue
            prec, pm, const = _precision_terms(mean[i0 : i0 + _SCORE_BLOCK], cov[i0 : i0 + _SCORE_BLOCK])
            i, yj = genomes[pairs] - i0, y[face_rows[pairs]]
            quad = np.einsum("pa,pab,pb->p", yj, prec[i], yj)
            out[pairs] = -0.5 * quad + np.einsum("pa,pa->p", pm[i], yj) - const[i] - pop[face_rows[pairs]]
        return out

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Calibrated log likelihood ratio (natural log) that face j is genome i's owner rather
        than a random person: the raw ratio of the predictive and the population density,
        mapped by the logistic calibration of the genome's state of knowledge."""
        self.check_faces(faces)
        raw, known = self._raw_scores(genotypes, faces, covariates)
        slope = np.where(known, self.calibration_[1, 0], self.calibration_[0, 0])[:, None]
        intercept = np.where(known, self.calibration_[1, 1], self.calibration_[0, 1])[:, None]
        return slope * raw + intercept

    # ---- storage -------------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        state: dict[str, Any] = {"n_vertices": self.n_vertices_, "population_var": self.population_var_}
        state |= {"snps": self.snps_, "sparse_freq": self.sparse_freq_, "sparse_centre": self.sparse_centre_}
        state |= {"sparse_coef": self.sparse_coef_, "sparse_cov": self.sparse_cov_.astype(np.float32)}
        state |= {"prior_weights": self.prior_weights_}
        state |= {"bg_snps": self.bg_snps_, "bg_freq": self.bg_freq_, "bg_centre": self.bg_centre_}
        state |= {"bg_coef": self.bg_coef_, "bg_h2": self.bg_h2_}
        state |= {"residual_cov": self.residual_cov_, "calibration": self.calibration_}
        state |= {"genetic_scale": self.genetic_scale_}
        state |= with_prefix(self.shape_pca_.to_arrays(), "shape")
        state |= with_prefix(self.demographics_.to_arrays(), "demographics")
        return state | with_prefix(self.covariates_.to_arrays(), "covariates")

    def _from_arrays(self, state: dict[str, Any]) -> None:
        self.n_vertices_ = int(state["n_vertices"])
        self.population_var_ = np.asarray(state["population_var"], dtype=np.float64)
        self.snps_ = np.asarray(state["snps"]).astype(str)
        self.sparse_freq_, self.sparse_centre_ = state["sparse_freq"], state["sparse_centre"]
        self.sparse_coef_ = np.asarray(state["sparse_coef"], dtype=np.float64)
        self.sparse_cov_ = np.asarray(state["sparse_cov"], dtype=np.float64)
        self.prior_weights_ = state["prior_weights"]
        self.bg_snps_ = np.asarray(state["bg_snps"]).astype(str)
        self.bg_freq_, self.bg_centre_ = state["bg_freq"], state["bg_centre"]
        self.bg_coef_, self.bg_h2_ = state["bg_coef"], state["bg_h2"]
        self.residual_cov_ = np.asarray(state["residual_cov"], dtype=np.float64)
        self.calibration_ = np.asarray(state["calibration"], dtype=np.float64)
        self.genetic_scale_ = np.asarray(state["genetic_scale"], dtype=np.float64)
        self.shape_pca_ = ShapePCA.from_arrays(without_prefix(state, "shape"))
        self.demographics_ = DemographicFeatures.from_arrays(without_prefix(state, "demographics"))
        self.covariates_ = CovariatePart.from_arrays(without_prefix(state, "covariates"))


def _read_columns_once(genotypes, *cols: np.ndarray) -> tuple[Any, ...]:
    """``genotypes`` and the column indices ``cols`` (-1: absent) into it, unchanged for a NumPy
    array. Other genotypes (a lazy cohort's store) have the columns used read once, int8, and
    the indices renumbered into that matrix: read a block of people at a time instead, a store
    chunked along variants would be decompressed whole for every block."""
    if isinstance(genotypes, np.ndarray):
        return genotypes, *cols
    used = np.unique(np.concatenate([c[c >= 0] for c in cols]))
    read = take_columns(genotypes, used) if len(used) else np.zeros((genotypes.shape[0], 0), dtype=np.int8)
    return read, *(np.where(c >= 0, np.searchsorted(used, c), -1) for c in cols)


def _standardized(g: np.ndarray, cols: np.ndarray, freq: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Standardized, centred dosages (float64) of the columns ``cols`` of the int8 genotypes
    ``g``, as in training; 0 (the training mean) for a missing call or an absent SNP. The int8
    dosages are taken first and widened once (NaN-coded float64 dosages cost 8 bytes a call
    and a pass per step)."""
    found = cols >= 0
    if found.all():
        calls = take_columns(g, cols)
    else:
        calls = np.full((g.shape[0], len(cols)), -1, dtype=np.int8)
        calls[:, found] = take_columns(g, cols[found])
    z = standardize(calls, freq).astype(np.float64)
    z -= centre
    missing = calls < 0
    if missing.any():
        z[missing] = 0.0
    return z


def _precision_terms(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per genome, of its predictive N(mean, cov): the precision P (n, K, K), P mean (n, K) and
    mean' P mean / 2 + log det(cov) / 2 (n,)."""
    chol = np.linalg.cholesky(cov)
    inv_chol = np.linalg.inv(chol)
    prec = np.einsum("iab,iac->ibc", inv_chol, inv_chol)  # L^-T L^-1
    pm = np.einsum("iab,ib->ia", prec, mean)
    half_logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
    return prec, pm, 0.5 * np.einsum("ia,ia->i", pm, mean) + half_logdet


def _calibration_pairs(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(genome, face) rows of the pairs a half-fit's scores are calibrated on, among m people:
    every matching pair, then ``_CALIBRATION_PAIRS`` non-matching ones drawn with replacement.
    The k-th non-matching pair in row-major order is (k // (m - 1), the same column skipping
    the diagonal), so no m x m mask is built; ``rng.integers`` draws what ``rng.choice`` over
    the list of those pairs would."""
    n_other = m * m - m
    k = rng.integers(0, n_other, min(n_other, _CALIBRATION_PAIRS))
    genome, col = k // (m - 1), k % (m - 1)
    face = col + (col >= genome)
    diagonal = np.arange(m)
    return np.concatenate([diagonal, genome]), np.concatenate([diagonal, face])


@dataclass
class GeneticMoments:
    """What a genome's SNPs add to its predictive distribution, before the parts' scales: the
    sparse part's and the background's means (n, K), and the sparse effects' covariance
    (n, K, K)."""

    sparse_mean: np.ndarray
    background_mean: np.ndarray
    sparse_cov: np.ndarray


@dataclass
class _HeldOut:
    """A model fitted on half of the training people, the other half, their faces and their
    genetic moments under the half-model."""

    model: BayesModel
    people: Any
    faces: np.ndarray
    genetic: GeneticMoments


def _genetic_scale(halves: list[_HeldOut]) -> np.ndarray:
    """(2,): the scales in [0, 1] of the sparse part's and the background's predictions, for a
    model fitted on all the training people, from its two half-fits.

    On the held-out halves, the scales s_half that minimize the people's squared error in shape
    space with age, sex and BMI known (bounded least squares of what the covariate part leaves
    on the two parts' predictions). A part that predicts nothing on new people gets 0; one that
    predicts them as well as it claims keeps 1. A part's prediction is its signal S plus the
    noise of its estimated effects, whose variance N falls as 1/n: s = S / (S + N), so with twice
    the people (the whole cohort) s = 2 s_half / (1 + s_half)."""
    design, target = [], []
    for held in halves:
        people = held.model.demographics_.transform(held.people, held.people.covariates)
        covariate_mean, _ = held.model.covariates_.moments(people)
        residual = held.model.shape_pca_.transform(held.faces) - covariate_mean
        design.append(np.column_stack([held.genetic.sparse_mean.ravel(), held.genetic.background_mean.ravel()]))
        target.append(residual.ravel())
    a, b = np.concatenate(design), np.concatenate(target)
    used = np.abs(a).sum(0) > 0
    scale = np.ones(2)  # a part with no SNPs keeps 1 (it adds 0 anyway)
    if used.any():
        half = lsq_linear(a[:, used], b, bounds=(0.0, 1.0)).x
        scale[used] = 2 * half / (1 + half)
    return scale
