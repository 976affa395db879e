"""Sero et al. (Nat Commun 2019): face-to-DNA classifiers, fused into one log-likelihood score.

Instead of predicting a face from a genome, every genome property is predicted *from the face*
and checked against the genome:

* **SNPs.** For each SNP selected by a multivariate GWAS of the shape PCs (training people only,
  adjusted for ancestry PCs and genetic sex, as in :mod:`~genoface.models._lippert`), a
  classifier P(genotype | face). It is the Bayes classifier of the additive model under which
  the SNP was selected: whitened shape scores ``z`` are Gaussian, ``z | g ~ N(a + b g, I - v b b')``
  (``v`` the dosage variance), so the log-odds of genotype g against 0 are
  ``g * s(z) - g² c / 2`` with one scalar face statistic ``s(z) = w·z - o`` per SNP — linear
  discriminant analysis with means constrained to be additive. Why this and not one multinomial
  logistic regression per SNP: it is closed form (one pass of matrix products for all SNPs, so
  fitting 300 SNPs on 10,000 people takes well under a second), the rare homozygote class needs
  no parameters of its own (it lies on the same additive axis, so an absent class is still
  handled), and matching becomes matrix products instead of an (genomes x faces x SNPs) tensor.
  The genotype prior is the training genotype frequencies with a Hardy–Weinberg pseudo-count.
  The classifiers' log-likelihoods are tempered by one factor ``snp_weight_`` chosen to maximize
  the held-out log-likelihood of the genotypes in a 2-fold cross-fit: in-sample effects are
  over-fitted and would make the fused score over-confident.
* **Sex** from the face: L2 logistic regression on the whitened
  shape scores, labelled with the genetic sex read from chromosome X.
* **Ancestry**: ridge regression of the genome's ancestry PCs on the shape scores, Gaussian
  residuals with the out-of-sample (cross-fitted) variance.
* **Age and BMI** (``dna+cov`` only, for people with both given): ridge regressions from the
  shape scores, Gaussian residuals with out-of-sample variance.

The score of genome i and face j is the sum of the log-likelihood ratios
``log P(trait_i | face_j) - log P(trait_i)`` of every trait (naive Bayes, as Sero et al. fuse
their classifiers). A missing genotype contributes 0; a genome without chromosome X has no sex
term unless the covariates give sex. Known limitation: the SNP classifiers are marginal (not
conditioned on ancestry), so in a structured cohort some ancestry information is counted by the
SNP terms as well as by the ancestry term.

Prediction. Sero's model does not generate faces, but the protocol reports a face error for
every model. ``predict`` returns the model's tempered posterior mean face over the training
faces (:mod:`genoface.models._posterior`), rebuilt from their stored shape scores: on the demo
cohort the untempered mean was 0.8 mm worse than with no SNP term at all. One temperature for
``dna``, one for ``dna+cov``, chosen at fit time; deterministic and from stored arrays only, so
it survives save/load exactly.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression, RidgeCV

from genoface.core.errors import GenofaceError
from genoface.core.state import with_prefix, without_prefix
from genoface.features import DemographicFeatures, LinearMap, holdout_residual_variance, select_face_snps
from genoface.genetics import align_dosages
from genoface.models._base import FaceModel, check_positive_ints, chosen_terms, genotype_arrays
from genoface.models._posterior import choose_temperature, softmax_rows, temper_rows
from genoface.models._registry import register_model
from genoface.shape import ShapePCA

_ALPHAS = np.logspace(-2, 5, 15)
_SEX_C = 1.0
_DOSAGES = np.arange(3.0)
#: Faces (or genomes, in predict) per block: the blocks of the score matrix stay small.
_BLOCK = 1024
#: Largest share of the shape variance one SNP may explain (keeps the residual covariance positive).
_MAX_R2 = 0.95
#: The face-to-DNA classifiers whose log-likelihood ratios the score can add up.
TERMS = ("snps", "sex", "ancestry", "age", "bmi")


@register_model
class SeroModel(FaceModel):
    """Face-to-DNA classifiers (per SNP, sex, ancestry, age, BMI) fused into a likelihood score.

    Parameters
    ----------
    n_shape_components : shape PCs the classifiers read from a face.
    n_pcs : ancestry principal components (predicted from the face, read from the genome).
    n_snps : SNPs kept from the multivariate GWAS (clumped within ``clump_bp``), one classifier each.
    clump_bp : keep only the best SNP within this distance on a chromosome.
    prior_count : Hardy–Weinberg pseudo-count added to the training genotype counts of each SNP
        (a genotype class absent from training keeps a non-zero probability).
    random_state : seed of the randomized ancestry PCA and of the cross-fitting splits.
    terms : the classifiers fused into the score, "all" or a comma-separated subset of
        :data:`TERMS` (Sero et al.'s Table 3 reports each alone and several fusions: "snps" is
        their SNPs-only row, "sex,ancestry,age,bmi" the fusion without SNPs). Every classifier
        is fitted either way; ``terms`` only chooses what the score adds up.
    """

    name = "sero"
    score_is_log_lr = True

    def __init__(
        self,
        n_shape_components: int = 30,
        n_pcs: int = 4,
        n_snps: int = 300,
        clump_bp: int = 20_000,
        prior_count: float = 1.0,
        random_state: int = 0,
        terms: str = "all",
    ) -> None:
        self.n_shape_components = n_shape_components
        self.n_pcs = n_pcs
        self.n_snps = n_snps
        self.clump_bp = clump_bp
        self.prior_count = prior_count
        self.random_state = random_state
        self.terms = terms

    def _terms(self) -> frozenset[str]:
        """The classifiers the score adds up (``terms`` parsed and checked)."""
        return chosen_terms(self.terms, TERMS)

    def _check_params(self) -> None:
        check_positive_ints(self, ("n_shape_components", "n_pcs", "n_snps"))
        if not self.prior_count > 0:
            raise GenofaceError(f"prior_count must be positive, got {self.prior_count!r}")
        self._terms()

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, cohort) -> Self:
        self._check_params()
        n = cohort.n_samples
        if n < 40:
            raise GenofaceError(f"the sero model needs at least 40 training people, got {n}")
        self._remember_cohort(cohort)  # first: the panel reads genomes during the fit
        faces = cohort.faces
        k = min(int(self.n_shape_components), n - 2)
        self.shape_pca_ = ShapePCA(n_components=k).fit(faces)
        z = self._whiten(faces)
        self.demographics_ = DemographicFeatures(self.n_pcs, self.random_state)
        people = self.demographics_.fit(cohort, self.name, covariates_needed=False)
        pcs = people.pcs

        # Face-to-genotype classifiers, on SNPs chosen inside the training people only.
        cols = select_face_snps(cohort, z, people.genome_block(), self.n_snps, self.clump_bp)
        self.snps_ = cohort.variants["id"].to_numpy()[cols].astype(str)
        g = align_dosages(cohort.genotypes, cohort.variants["id"], self.snps_)
        self.snp_dir_, self.snp_offset_, self.snp_curv_, self.snp_log_prior_ = _fit_snp_classifiers(
            z, g, self.prior_count
        )
        self.snp_weight_ = self._cross_fit_snp_weight(cohort, z, people.genome_block())

        # Sex, ancestry, age and BMI from the face.
        self._fit_sex(z, people.sex_calls())
        anc = RidgeCV(alphas=_ALPHAS, alpha_per_target=True).fit(z, pcs)
        self.anc_map_ = LinearMap(anc.coef_, anc.intercept_)
        self.anc_resid_var_ = holdout_residual_variance(z, pcs, self.random_state, _ALPHAS)
        self.anc_mean_, self.anc_var_ = pcs.mean(axis=0), np.maximum(pcs.var(axis=0), 1e-9)
        full = people.complete
        if full is None or full.sum() < 10:
            raise GenofaceError(
                f"only {0 if full is None else int(full.sum())} training people have both age and BMI; need at least 10"
            )
        y = np.column_stack([people.age[full], people.bmi[full]])
        fitted = RidgeCV(alphas=_ALPHAS, alpha_per_target=True).fit(z[full], y)
        self.cov_map_ = LinearMap(fitted.coef_, fitted.intercept_)
        self.cov_resid_var_ = holdout_residual_variance(z[full], y, self.random_state, _ALPHAS)
        self.cov_mean_, self.cov_var_ = y.mean(axis=0), np.maximum(y.var(axis=0), 1e-9)

        self.train_z_ = z
        self.predict_temperature_ = self._fit_prediction_temperature(cohort)
        self.n_vertices_ = cohort.n_vertices
        self.fitted_ = True
        return self

    def _whiten(self, faces: np.ndarray) -> np.ndarray:
        """Shape scores divided by their training SD: the classifiers' input (n, K)."""
        scores = self.shape_pca_.transform(faces)
        return scores / np.sqrt(self.shape_pca_.explained_variance_)

    def _cross_fit_snp_weight(self, cohort, z: np.ndarray, covariates: np.ndarray) -> float:
        """Tempering factor of the SNP log-likelihoods that maximizes the genotypes' held-out
        log-likelihood: SNPs selected by the GWAS and classifiers fitted on one half of the
        people, scored on the other, and the other way round. The selection is redone inside
        each half: SNPs selected on all training people look informative in the held-out half
        too (that is why they were selected), which chose a factor far above 0 where the SNPs
        carry almost nothing, and the fused score then did worse than the one without SNPs
        (calibration presets, 450 training people: AUC 0.855 fused against 0.881 without)."""
        order = np.random.default_rng(self.random_state).permutation(len(z))
        halves = (np.sort(order[: len(z) // 2]), np.sort(order[len(z) // 2 :]))
        ids = cohort.variants["id"].to_numpy().astype(str)
        held_out = []
        for a, b in (halves, halves[::-1]):
            cols = select_face_snps(cohort.subset(a), z[a], covariates[a], self.n_snps, self.clump_bp)
            g = align_dosages(cohort.genotypes, cohort.variants["id"], ids[cols])
            w, o, c, log_prior = _fit_snp_classifiers(z[a], g[a], self.prior_count)
            held_out.append((z[b] @ w.T - o, g[b], c, log_prior))

        def loss(t: float) -> float:
            return -sum(_genotype_log_likelihood(s, gb, c, lp, t) for s, gb, c, lp in held_out)

        return float(minimize_scalar(loss, bounds=(0.0, 2.0), method="bounded", options={"xatol": 1e-4}).x)

    def _fit_sex(self, z: np.ndarray, male: np.ndarray) -> None:
        """The face's sex classifier, on the people whose genetic sex is called (1/0; NaN unknown)."""
        known = ~np.isnan(male)
        n_male, n_female = int((male[known] == 1).sum()), int((male[known] == 0).sum())
        self.has_sex_ = min(n_male, n_female) >= 10
        if not self.has_sex_:  # no chromosome X, or one sex only: no sex term
            self.sex_map_ = LinearMap(np.zeros((1, z.shape[1])), np.zeros(1))
            self.male_share_ = 0.5
            return
        # A fixed, mild L2 penalty: the inputs are whitened and there are far more people than shape
        # PCs, so the fit is stable; a cross-validated C gave the same matching at ~10x the cost.
        clf = LogisticRegression(C=_SEX_C, max_iter=1000).fit(z[known], male[known])
        self.sex_map_ = LinearMap(clf.coef_, clf.intercept_)
        self.male_share_ = n_male / (n_male + n_female)

    # ---- matching -----------------------------------------------------------------------------------

    def _genome_traits(self, genotypes, covariates) -> dict[str, np.ndarray | None]:
        """What each genome (and its covariates) says: dosages, sex, ancestry PCs, age and BMI."""
        genotypes = self.on_panel(genotypes)  # the allele matcher: file alleles as in training
        _, g_all, variant_ids = genotype_arrays(genotypes)
        g = align_dosages(g_all, variant_ids, self.snps_)
        people = self.demographics_.transform(genotypes, covariates)
        full = people.complete
        age_bmi = None
        if full is not None and full.any():
            age_bmi = np.column_stack([people.age, people.bmi])
            age_bmi[~full] = np.nan
        return {"g": g, "male": people.male, "pcs": people.pcs, "age_bmi": age_bmi}

    def _score_block(self, traits: dict, z: np.ndarray) -> np.ndarray:
        """Fused log-likelihood ratios (n_genomes, n_faces) of all genomes against faces ``z``."""
        terms = self._terms()
        out = np.zeros((traits["g"].shape[0], z.shape[0]))
        if "snps" in terms:
            out += self._snp_llr(traits["g"], z)
        if self.has_sex_ and "sex" in terms:
            out += self._sex_llr(traits["male"], z)
        if "ancestry" in terms:
            out += _gaussian_llr(
                traits["pcs"], self.anc_map_.predict(z), self.anc_resid_var_, self.anc_mean_, self.anc_var_
            )
        cols = [i for i, name in enumerate(("age", "bmi")) if name in terms]
        if traits["age_bmi"] is not None and cols:
            y = traits["age_bmi"][:, cols]
            given = ~np.isnan(y).any(axis=1)
            llr = _gaussian_llr(
                np.where(given[:, None], y, 0.0),
                self.cov_map_.predict(z)[:, cols],
                self.cov_resid_var_[cols],
                self.cov_mean_[cols],
                self.cov_var_[cols],
            )
            out += np.where(given[:, None], llr, 0.0)
        return out

    def _snp_llr(self, g: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Sum over the SNP classifiers of log P(genotype | face) - log P(genotype); a missing call adds 0."""
        t = self.snp_weight_
        seen = ~np.isnan(g)
        g0 = np.where(seen, g, 0.0)
        s = z @ self.snp_dir_.T - self.snp_offset_  # (n_faces, n_snps)
        norm = _log_normalizer(s, self.snp_curv_, self.snp_log_prior_, t)
        return t * (g0 @ s.T) - (0.5 * t * (g0**2) @ self.snp_curv_)[:, None] - seen.astype(float) @ norm.T

    def _sex_llr(self, male: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The sex classifier's log-likelihood ratio for genomes of P(male) ``male``: the ratio is
        p P(M | face) / P(M) + (1 - p) P(F | face) / P(F), the one sex's ratio when p is 0 or 1."""
        logit = self.sex_map_.predict(z)[:, 0]
        log_m, log_f = -np.logaddexp(0.0, -logit), -np.logaddexp(0.0, logit)
        with np.errstate(divide="ignore"):
            log_p, log_q = np.log(male)[:, None], np.log1p(-male)[:, None]
        return np.logaddexp(
            log_p + log_m[None] - np.log(self.male_share_), log_q + log_f[None] - np.log1p(-self.male_share_)
        )

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Sum over the face-to-DNA classifiers of log P(genome trait | face) - log P(genome trait),
        computed face-block by face-block."""
        self.check_faces(faces)
        traits = self._genome_traits(genotypes, covariates)
        out = np.empty((traits["g"].shape[0], faces.shape[0]))
        for start in range(0, faces.shape[0], _BLOCK):
            out[:, start : start + _BLOCK] = self._score_block(traits, self._whiten(faces[start : start + _BLOCK]))
        return out

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Tempered posterior mean face over the training faces (see the module docstring)."""
        self._check_fitted()
        traits = self._genome_traits(genotypes, covariates)
        n = traits["g"].shape[0]
        given = np.zeros(n, bool) if traits["age_bmi"] is None else ~np.isnan(traits["age_bmi"]).any(axis=1)
        tau = np.where(given, self.predict_temperature_[1], self.predict_temperature_[0])
        scores = np.empty((n, self.train_z_.shape[1]))
        for start in range(0, n, _BLOCK):
            block = {k: (None if v is None else v[start : start + _BLOCK]) for k, v in traits.items()}
            logw = tau[start : start + _BLOCK, None] * self._score_block(block, self.train_z_)
            scores[start : start + _BLOCK] = softmax_rows(logw) @ self.train_z_
        scores *= np.sqrt(self.shape_pca_.explained_variance_)
        return self.shape_pca_.inverse_transform(scores).reshape(n, self.n_vertices_, 3)

    def _fit_prediction_temperature(self, cohort) -> np.ndarray:
        """Temperature of the posterior over training faces (:mod:`genoface.models._posterior`),
        for ``dna`` and for ``dna+cov``."""
        rows = temper_rows(cohort.n_samples, self.random_state)
        sub = cohort.subset(rows)
        values = self.train_z_ * np.sqrt(self.shape_pca_.explained_variance_)
        chosen = [
            choose_temperature(self._score_block(self._genome_traits(sub, covariates), self.train_z_), rows, values)
            for covariates in (None, sub.covariates)
        ]
        return np.asarray(chosen)

    # ---- storage ------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        scalars = {
            "n_vertices": self.n_vertices_,
            "snp_weight": self.snp_weight_,
            "has_sex": bool(self.has_sex_),
            "male_share": self.male_share_,
        }
        arrays = with_prefix(self.demographics_.to_arrays(), "demographics")
        arrays |= with_prefix(self.shape_pca_.to_arrays(), "shape")
        arrays.update(
            snps=self.snps_,
            snp_dir=self.snp_dir_,
            snp_offset=self.snp_offset_,
            snp_curv=self.snp_curv_,
            snp_log_prior=self.snp_log_prior_,
            anc_resid_var=self.anc_resid_var_,
            anc_mean=self.anc_mean_,
            anc_var=self.anc_var_,
            cov_resid_var=self.cov_resid_var_,
            cov_mean=self.cov_mean_,
            cov_var=self.cov_var_,
            train_z=self.train_z_,
            predict_temperature=self.predict_temperature_,
        )
        for key in ("sex", "anc", "cov"):
            arrays.update(with_prefix(getattr(self, f"{key}_map_").to_arrays(), key))
        return scalars | arrays

    def _from_arrays(self, arrays: dict[str, Any]) -> None:
        self.n_vertices_ = int(arrays["n_vertices"])
        self.snp_weight_ = float(arrays["snp_weight"])
        self.has_sex_ = bool(arrays["has_sex"])
        self.male_share_ = float(arrays["male_share"])
        self.demographics_ = DemographicFeatures.from_arrays(without_prefix(arrays, "demographics"))
        self.shape_pca_ = ShapePCA.from_arrays(without_prefix(arrays, "shape"))
        self.snps_ = arrays["snps"].astype(str)
        for key in ("snp_dir", "snp_offset", "snp_curv", "snp_log_prior", "anc_resid_var", "anc_mean", "anc_var"):
            setattr(self, f"{key}_", arrays[key])
        for key in ("cov_resid_var", "cov_mean", "cov_var", "train_z", "predict_temperature"):
            setattr(self, f"{key}_", arrays[key])
        for key in ("sex", "anc", "cov"):
            setattr(self, f"{key}_map_", LinearMap.from_arrays(without_prefix(arrays, key)))


# ---- numerical kernels ------------------------------------------------------------------------------


def _fit_snp_classifiers(
    z: np.ndarray, g: np.ndarray, prior_count: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Additive-Gaussian face-to-genotype classifiers for the m columns of ``g`` (n, m; NaN missing)
    from whitened face scores ``z`` (n, K).

    Per SNP, over the people with a call: ``z = a + b g + e`` by least squares; with ``v`` the
    dosage variance the residual covariance is ``I - v b b'`` (cov(z) = I), whose inverse applied
    to b is ``b / (1 - v |b|²)``. Returns the direction ``w`` (m, K) and offset ``o`` (m,) of the
    face statistic ``s = w·z - o``, the curvature ``c = w·b`` (m,), so that the log-odds of
    genotype g against 0 are ``g s - g² c / 2``, and the log prior (m, 3) of genotypes 0/1/2.
    """
    seen = ~np.isnan(g)
    g0 = np.where(seen, g, 0.0)
    n_obs = np.maximum(seen.sum(axis=0), 1).astype(float)
    g_mean = g0.sum(axis=0) / n_obs
    z_mean = (seen.T.astype(float) @ z) / n_obs[:, None]  # (m, K): mean face of the people with a call
    szg = g0.T @ z - (n_obs * g_mean)[:, None] * z_mean
    sgg = (g0**2).sum(axis=0) - n_obs * g_mean**2
    ok = sgg > 1e-9 * n_obs
    b = np.where(ok[:, None], szg / np.where(ok, sgg, 1.0)[:, None], 0.0)
    r2 = np.minimum((sgg / n_obs) * (b**2).sum(axis=1), _MAX_R2)
    w = b / (1.0 - r2)[:, None]
    a = z_mean - g_mean[:, None] * b
    assert w.shape == b.shape == (g.shape[1], z.shape[1])
    counts = np.stack([(g == d).sum(axis=0) for d in _DOSAGES], axis=1).astype(float)
    p = np.clip((g0.sum(axis=0) + prior_count) / (2 * n_obs + 2 * prior_count), 1e-6, 1 - 1e-6)
    hwe = np.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2], axis=1)
    log_prior = np.log((counts + prior_count * hwe) / (counts.sum(axis=1, keepdims=True) + prior_count))
    return w, (w * a).sum(axis=1), (w * b).sum(axis=1), log_prior


def _genotype_log_odds(s: np.ndarray, curv: np.ndarray, log_prior: np.ndarray, t: float) -> np.ndarray:
    """Unnormalized log P(genotype | face) (n_faces, m, 3): log prior + t (g s - g² c / 2)."""
    d = _DOSAGES
    return log_prior[None] + t * (s[:, :, None] * d - 0.5 * curv[None, :, None] * d**2)


def _log_normalizer(s: np.ndarray, curv: np.ndarray, log_prior: np.ndarray, t: float) -> np.ndarray:
    """log sum_g P(g) exp(t (g s - g² c / 2)) per face and SNP (n_faces, m)."""
    return logsumexp(_genotype_log_odds(s, curv, log_prior, t), axis=2)


def _genotype_log_likelihood(s: np.ndarray, g: np.ndarray, curv: np.ndarray, log_prior: np.ndarray, t: float) -> float:
    """Sum over the observed calls of log P(g | face) (``g`` (n, m) with NaN missing)."""
    log_p = _genotype_log_odds(s, curv, log_prior, t)
    log_p -= logsumexp(log_p, axis=2, keepdims=True)
    seen = ~np.isnan(g)
    idx = np.where(seen, g, 0).astype(np.int64)
    picked = np.take_along_axis(log_p, idx[:, :, None], axis=2)[:, :, 0]
    return float(picked[seen].sum())


def _gaussian_llr(y: np.ndarray, pred: np.ndarray, var: np.ndarray, mean: np.ndarray, marginal_var: np.ndarray):
    """(n_y, n_pred): sum over columns of log N(y_i; pred_j, var) - log N(y_i; mean, marginal_var)."""
    w = 1.0 / var
    quad = (w * y**2).sum(1)[:, None] - 2 * (w * y) @ pred.T + (w * pred**2).sum(1)[None, :]
    marginal = (((y - mean) ** 2) / marginal_var).sum(1)[:, None]
    return -0.5 * (quad - marginal) - 0.5 * (np.log(var).sum() - np.log(marginal_var).sum())
