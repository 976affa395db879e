"""Multivariate multiple regression with a mixture-of-normals prior, fitted by variational
empirical Bayes: mr.mash (Morgante, Carbonetto, Wang, Stephens; PLoS Genetics 2023).

The model: Y (n x d) = X B + E, rows of E ~ N(0, V), and each SNP's effect row b_j (d) drawn from
a mixture sum_k w_k N(0, U_k). The U_k are fixed sharing patterns on a grid of scales (a null,
effects on one component, independent effects on all, data-driven rank-1 directions and the
covariance of the strongest effects); the weights w and the residual covariance V come from
the data. Coordinate ascent updates one SNP at a time against the partial residual, as in the
paper's Algorithm 1; the weights by the EM update; V from the expected residual sum of squares.

Written here because no maintained Python implementation exists (mr.mash.alpha is R). Each
posterior is computed through the generalized eigenproblem U_k w = lambda V w: with W' V W = I
and W' U_k W = diag(lambda), every (U_k + s V)^-1 is W diag(1 / (lambda + s)) W', so a SNP's
update costs K d^2, not K d^3, whatever its sampling variance s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from scipy.special import softmax

#: Floor of a mixture weight, so a pattern the first sweeps leave empty can come back.
_MIN_WEIGHT = 1e-8


@dataclass
class MixturePrior:
    """The prior of an effect row: ``weights[k]`` times N(0, ``covariances[k]``)."""

    covariances: np.ndarray  # (K, d, d)
    weights: np.ndarray  # (K,)
    names: list[str]

    def __post_init__(self) -> None:
        self.covariances = np.asarray(self.covariances, dtype=np.float64)
        self.weights = np.asarray(self.weights, dtype=np.float64)
        k, d, d2 = self.covariances.shape
        if d != d2 or self.weights.shape != (k,) or len(self.names) != k:
            raise ValueError(f"a mixture prior needs (K, d, d) covariances, K weights and K names; got {k, d, d2}")


@dataclass
class MrMashFit:
    """The variational posterior: effect means (p, d) and covariances (p, d, d), the learnt
    prior weights and residual covariance, and how the fit went."""

    coef: np.ndarray  # (p, d) posterior means
    coef_cov: np.ndarray  # (p, d, d) posterior covariances
    weights: np.ndarray  # (K,)
    residual_cov: np.ndarray  # (d, d)
    responsibilities: np.ndarray  # (p, K)
    n_iter: int
    converged: bool


def canonical_prior(
    x: np.ndarray,
    y: np.ndarray,
    residual_cov: np.ndarray,
    *,
    n_directions: int = 3,
    n_strong: int = 200,
    scale_step: float = 4.0,
    null_weight: float = 0.9,
) -> MixturePrior:
    """mashr-style sharing patterns on a grid of scales, from the marginal effects of ``x`` on ``y``.

    Patterns (each normalized so that its largest variance, relative to ``residual_cov``'s
    diagonal, is 1): one component at a time, all components independently in proportion to
    their residual variance, the top ``n_directions`` right singular vectors of the strongest
    SNPs' marginal effects (a locus that moves the nose moves several shape components
    together), and those effects' covariance. Scales run by ``scale_step`` from a tenth of the
    smallest sampling variance to twice the largest squared marginal effect, as mashr's grid.
    """
    n, d = y.shape
    xx = np.einsum("ij,ij->j", x, x)
    ok = xx > 0
    bhat = (x[:, ok].T @ y) / xx[ok, None]
    var = np.diag(residual_cov)
    patterns: list[tuple[str, np.ndarray]] = [(f"component {c + 1}", np.diag(np.eye(d)[c])) for c in range(d)]
    patterns.append(("independent", np.diag(var)))
    if len(bhat):
        vinv = np.linalg.pinv(residual_cov)
        chi2 = np.einsum("jc,cd,jd->j", bhat, vinv, bhat) * xx[ok]
        strong = bhat[np.argsort(chi2)[::-1][: max(int(n_strong), d + 1)]]
        _, sv, vt = np.linalg.svd(strong, full_matrices=False)
        for i in range(min(int(n_directions), len(sv))):
            patterns.append((f"direction {i + 1}", np.outer(vt[i], vt[i])))
        patterns.append(("strong-effect covariance", strong.T @ strong / len(strong)))
    normalized = []
    for name, u in patterns:
        top = np.max(np.diag(u) / var)
        if top > 0 and np.all(np.isfinite(u)):
            normalized.append((name, u / top))
    s_min = 1.0 / xx[ok].max() if ok.any() else 1.0 / n
    b2 = (bhat**2 / var).max() if len(bhat) else s_min
    scales = [s_min / 10]
    while scales[-1] < 2 * b2:
        scales.append(scales[-1] * float(scale_step))
    names = ["null"]
    covs = [np.zeros((d, d))]
    for name, u in normalized:
        for s in scales:
            names.append(f"{name} x {s:.3g}")
            covs.append(u * s)
    weights = np.full(len(covs), (1 - null_weight) / (len(covs) - 1))
    weights[0] = null_weight
    return MixturePrior(np.array(covs), weights, names)


class _Posterior:
    """The prior's components in the metric of V: W_k (W' V W = I, W' U_k W = diag lambda_k)
    and V W_k (= W_k^-T), for the closed-form posteriors of one effect row."""

    def __init__(self, covariances: np.ndarray, residual_cov: np.ndarray) -> None:
        k, d, _ = covariances.shape
        self.lam = np.empty((k, d))
        self.w = np.empty((k, d, d))
        for i, u in enumerate(covariances):
            self.lam[i], self.w[i] = eigh(u, residual_cov)
        self.lam = np.maximum(self.lam, 0.0)  # U_k are PSD; eigh may give -1e-17
        self.vw = np.einsum("ab,kbc->kac", residual_cov, self.w)
        # The same matrices stacked for one BLAS product per SNP: t = W' bhat for every k at
        # once, and sum_k VW_k c_k as one (d, K d) product.
        self.w_stacked = self.w.transpose(0, 2, 1).reshape(k * d, d)
        self.vw_stacked = self.vw.transpose(1, 0, 2).reshape(d, k * d)

    def update(self, bhat: np.ndarray, s: float, log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior of one effect row given its least-squares estimate ``bhat`` ~ N(b, s V):
        (the log marginal likelihood of each component, up to a constant common to all; the
        responsibilities; the posterior mean)."""
        t = (self.w_stacked @ bhat).reshape(self.lam.shape)
        denom = self.lam + s
        log_ml = -0.5 * (np.log(denom).sum(1) + (t * t / denom).sum(1))
        phi = softmax(log_w + log_ml)
        mean = self.vw_stacked @ (phi[:, None] * (self.lam / denom * t)).ravel()
        return log_ml, phi, mean

    def covariance(self, bhat: np.ndarray, s: float, phi: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Posterior covariance of the row: sum_k phi_k (Sigma_k + mu_k mu_k') - mean mean',
        over the components that hold a responsibility above 1e-6 (the rest add nothing visible
        and would cost K d^3)."""
        keep = np.flatnonzero(phi > 1e-6)
        lam, vw = self.lam[keep], self.vw[keep]
        m = lam / (lam + s) * (self.w_stacked.reshape(self.lam.shape + (-1,))[keep] @ bhat)
        mu = np.einsum("kde,ke->kd", vw, m)
        # sum_k phi_k VW_k diag(spread_k) VW_k' as one product A A' (A: VW_k scaled, side by side)
        a = (vw * np.sqrt(phi[keep, None] * lam * s / (lam + s))[:, None, :]).transpose(1, 0, 2).reshape(len(bhat), -1)
        second = a @ a.T + (phi[keep, None] * mu).T @ mu
        return second - np.outer(mean, mean)


def prior_weights_from_marginals(
    x: np.ndarray, y: np.ndarray, prior: MixturePrior, residual_cov: np.ndarray
) -> np.ndarray:
    """Mixture weights learnt from the marginal effects of ``x`` (n, p) on ``y`` (n, d), both
    centred, by maximum likelihood (mashr's "fit the prior on a random set of tests").

    Why: effects estimated on the SNPs a GWAS selected in the same people carry the winner's
    curse, and a prior learnt from them would shrink too little. With a prior learnt on SNPs
    drawn without regard to their association, the posterior means of the selected SNPs are
    immune to the selection (Dawid 1994)."""
    xx = np.einsum("ij,ij->j", x, x)
    ok = xx > 0
    bhat = (x[:, ok].T @ y) / xx[ok, None]
    post = _Posterior(prior.covariances, residual_cov)
    log_lik = np.empty((len(bhat), len(prior.weights)))
    for j, (b, s) in enumerate(zip(bhat, 1.0 / xx[ok], strict=True)):
        log_lik[j] = post.update(b, s, np.zeros(len(prior.weights)))[0]
    return mixture_weights(log_lik, prior.weights)


def mixture_weights(log_lik: np.ndarray, start: np.ndarray, max_iter: int = 1000, tol: float = 1e-8) -> np.ndarray:
    """Maximum-likelihood mixture weights given each row's component log-likelihoods (p, K),
    by EM to convergence: the weights that mr.mash finds with mix-SQP, for the effects' current
    estimates."""
    lik = np.exp(log_lik - log_lik.max(1, keepdims=True))
    w = np.maximum(np.asarray(start, dtype=np.float64), _MIN_WEIGHT)
    w /= w.sum()
    for _ in range(max_iter):
        r = lik * w
        r /= r.sum(1, keepdims=True)
        new = np.maximum(r.mean(0), _MIN_WEIGHT)
        new /= new.sum()
        if np.abs(new - w).max() < tol:
            return new
        w = new
    return w


def _sweep(x, xx, active, post: _Posterior, log_w, move_scale, state) -> float:
    """One pass of coordinate ascent over the SNPs ``active``, updating ``state`` (coef,
    coef_cov, log_ml, resp, resid) in place; returns the largest standardized move."""
    coef, coef_cov, log_ml, resp, resid = state
    largest_move = 0.0
    for j in active:
        xj = x[:, j]
        s = 1.0 / xx[j]
        old = coef[j].copy()
        bhat = old + (xj @ resid) * s
        log_ml[j], resp[j], mean = post.update(bhat, s, log_w)
        coef_cov[j] = post.covariance(bhat, s, resp[j], mean)
        resid -= np.outer(xj, mean - old)
        coef[j] = mean
        largest_move = max(largest_move, float((np.abs(mean - old) * move_scale[j]).max()))
    return largest_move


def fit_mr_mash(
    x: np.ndarray,
    y: np.ndarray,
    prior: MixturePrior,
    *,
    residual_cov: np.ndarray | None = None,
    coef_init: np.ndarray | None = None,
    update_weights: bool = True,
    update_residual_cov: bool = True,
    max_iter: int = 100,
    tol: float = 1e-4,
    progress: Callable[[int, int], None] | None = None,
) -> MrMashFit:
    """Fit Y = X B + E by coordinate-ascent variational empirical Bayes.

    ``x`` (n, p) and ``y`` (n, d) should be centred (the model has no intercept). The iteration
    stops when no posterior mean moves by more than ``tol`` times the largest one (or at
    ``max_iter``). ``residual_cov`` starts V (default: the covariance of ``y``); with
    ``update_residual_cov`` it is re-estimated after every sweep, counting the posterior
    variance of the effects, as the paper's update does.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = x.shape
    d = y.shape[1]
    if prior.covariances.shape[1] != d:
        raise ValueError(f"the prior is for {prior.covariances.shape[1]} responses, y has {d}")
    xx = np.einsum("ij,ij->j", x, x)
    active = np.flatnonzero(xx > 0)
    coef = np.zeros((p, d)) if coef_init is None else np.array(coef_init, dtype=np.float64)
    coef_cov = np.zeros((p, d, d))
    k = len(prior.weights)
    resp = np.zeros((p, k))
    resp[:, 0] = 1.0
    log_ml = np.zeros((p, k))
    v = np.cov(y, rowvar=False).reshape(d, d) if residual_cov is None else np.array(residual_cov, dtype=np.float64)
    weights = prior.weights.copy()
    resid = y - x @ coef
    # A move is measured on the scale of a standardized SNP and of the residual SD.
    move_scale = np.sqrt(xx / n)[:, None] / np.sqrt(np.diag(v))[None, :]
    converged = False
    it = 0
    for it in range(1, int(max_iter) + 1):
        post = _Posterior(prior.covariances, v)
        log_w = np.log(np.maximum(weights, _MIN_WEIGHT))
        state = (coef, coef_cov, log_ml, resp, resid)
        largest_move = _sweep(x, xx, active, post, log_w, move_scale, state)
        if update_weights and len(active):
            weights = mixture_weights(log_ml[active], weights)
        if update_residual_cov:
            # E||Y - XB||^2 under the posterior: the residuals plus each effect's spread.
            spread = np.einsum("j,jab->ab", xx, coef_cov)
            v = (resid.T @ resid + spread) / n
            v = (v + v.T) / 2 + 1e-10 * np.trace(v) / d * np.eye(d)
        if progress is not None:
            progress(it, int(max_iter))
        if largest_move <= tol:
            converged = True
            break
    return MrMashFit(coef, coef_cov, weights, v, resp, it, converged)
