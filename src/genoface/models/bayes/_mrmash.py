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
update costs K d^2, not K d^3, whatever its sampling variance s. The posterior covariances,
which cost K d^3 each, are formed once, after the last sweep; the update of V needs only their
sum, which a sweep gathers at K d^2 per SNP (:class:`_Spread`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, eigh
from threadpoolctl import threadpool_limits

#: Floor of a mixture weight, so a pattern the first sweeps leave empty can come back.
_MIN_WEIGHT = 1e-8
#: Responsibility below which a component is left out of a posterior covariance.
_KEEP = 1e-6
#: SNPs whose terms :class:`_Spread` buffers before summing them by matrix products.
_SPREAD_ROWS = 128
#: Most SNPs for which coordinate ascent keeps X'X (p x p: 128 MB at 4,096).
_GRAM_SNPS = 4096


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
    coef_cov: np.ndarray | None  # (p, d, d) posterior covariances (None when not asked for)
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
        log_ml, phi, mean, _, _ = self._update(bhat, s, log_w)
        return log_ml, phi, mean

    def _update(self, bhat: np.ndarray, s: float, log_w: np.ndarray):
        """:meth:`update`, and for :meth:`_Spread.add` t = W' bhat and lam / (lam + s) (K, d)."""
        t = (self.w_stacked @ bhat).reshape(self.lam.shape)
        denom = self.lam + s
        log_ml = -0.5 * (np.log(denom).sum(1) + (t * t / denom).sum(1))
        # softmax(log_w + log_ml), written out (scipy's costs more in checks than in arithmetic)
        a = log_w + log_ml
        phi = np.exp(a - a.max())
        phi /= phi.sum()
        shrink = self.lam / denom
        mean = self.vw_stacked @ (phi[:, None] * (shrink * t)).ravel()
        return log_ml, phi, mean, t, shrink

    def covariance(self, bhat: np.ndarray, s: float, phi: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Posterior covariance of the row: sum_k phi_k (Sigma_k + mu_k mu_k') - mean mean',
        over the components that hold a responsibility above 1e-6 (the rest add nothing visible
        and would cost K d^3)."""
        keep = np.flatnonzero(phi > _KEEP)
        lam, vw = self.lam[keep], self.vw[keep]
        m = lam / (lam + s) * (self.w_stacked.reshape(self.lam.shape + (-1,))[keep] @ bhat)
        mu = np.einsum("kde,ke->kd", vw, m)
        # sum_k phi_k VW_k diag(spread_k) VW_k' as one product A A' (A: VW_k scaled, side by side)
        a = (vw * np.sqrt(phi[keep, None] * lam * s / (lam + s))[:, None, :]).transpose(1, 0, 2).reshape(len(bhat), -1)
        second = a @ a.T + (phi[keep, None] * mu).T @ mu
        return second - np.outer(mean, mean)


class _Spread:
    """sum_j xx_j Cov(b_j) over a sweep's SNPs, the effects' spread in the update of V, gathered
    without forming any Cov(b_j) (K d^3 each). In the metric of V, with m_jk = lam_k / (lam_k +
    s_j) W_k' bhat_j the mean of component k,

        Cov(b_j) = sum_k VW_k [phi_jk (diag(lam_k s_j / (lam_k + s_j)) + m_jk m_jk')] VW_k' - b_j b_j',

    over the same components as :meth:`_Posterior.covariance` (responsibility above 1e-6). Per
    component, the d x d sums over SNPs are kept and multiplied out by VW_k once per sweep. The
    outer products are summed as products of matrices: each SNP's sqrt(xx_j phi_jk) m_jk is
    written to a buffer, and a full buffer adds V_k' V_k per component (BLAS, K d^2 per SNP)."""

    def __init__(self, post: _Posterior, rows: int = _SPREAD_ROWS) -> None:
        k, d = post.lam.shape
        self.post = post
        self.inner = np.zeros((k, d, d))  # sum_j xx_j phi_jk m_jk m_jk'
        self.diag = np.zeros((k, d))  # sum_j xx_j phi_jk lam_k s_j / (lam_k + s_j)
        self.means = np.zeros((d, d))  # sum_j xx_j b_j b_j'
        self.buffer = np.empty((k, rows, d))
        self.filled = 0

    def add(self, t: np.ndarray, shrink: np.ndarray, s: float, phi: np.ndarray, mean: np.ndarray, xx: float) -> None:
        """One SNP: t = W' bhat and lam / (lam + s) (K, d), its sampling variance s,
        responsibilities, posterior mean and x'x."""
        weight = np.where(phi > _KEEP, xx * phi, 0.0)[:, None]
        self.buffer[:, self.filled] = np.sqrt(weight) * (shrink * t)
        self.filled += 1
        self.diag += (weight * s) * shrink
        self.means += xx * np.outer(mean, mean)
        if self.filled == self.buffer.shape[1]:
            self._flush()

    def _flush(self) -> None:
        rows = self.buffer[:, : self.filled]
        self.inner += np.matmul(rows.transpose(0, 2, 1), rows)
        self.filled = 0

    def total(self) -> np.ndarray:
        """sum_j xx_j Cov(b_j) (d, d)."""
        self._flush()
        inner = self.inner + self.diag[:, :, None] * np.eye(self.diag.shape[1])
        vw = self.post.vw
        return np.einsum("kab,kbc,kdc->ad", vw, inner, vw, optimize=True) - self.means


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


class _Residuals:
    """The residuals R = Y - X B as coordinate ascent needs them: x_j' R for a SNP, and the
    update after its effect row moved by delta (R -= x_j delta', by BLAS ger in place).

    With far fewer SNPs than people (2,000 against 10,000), X'R (p, d) is kept instead of R
    and updated through X'X (p, p): p d per SNP instead of n d. R itself is formed again
    after each sweep."""

    def __init__(self, x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> None:
        n, p = x.shape
        self.x, self.y = x, y
        self.gram = x.T @ x if 2 * p <= n and p <= _GRAM_SNPS else None
        self.resid = np.ascontiguousarray(y - x @ coef)
        self.xr = self._xr()

    def _xr(self) -> np.ndarray | None:
        return None if self.gram is None else np.ascontiguousarray(self.x.T @ self.resid)

    def at(self, j: int) -> np.ndarray:
        """x_j' R (d)."""
        return self.xr[j] if self.gram is not None else self.x[:, j] @ self.resid

    def move(self, j: int, delta: np.ndarray) -> None:
        """R -= x_j delta' (or X'R -= X'x_j delta'), on the transposes, which are in Fortran order."""
        if self.gram is not None:
            blas.dger(-1.0, delta, self.gram[j], a=self.xr.T, overwrite_a=1)
        else:
            blas.dger(-1.0, delta, self.x[:, j], a=self.resid.T, overwrite_a=1)

    def after_sweep(self, coef: np.ndarray) -> np.ndarray:
        """R at the end of a sweep (n, d)."""
        if self.gram is not None:
            self.resid = np.ascontiguousarray(self.y - self.x @ coef)
            self.xr = self._xr()
        return self.resid


def _sweep(xx, active, post: _Posterior, log_w, move_scale, state, spread: _Spread | None) -> float:
    """One pass of coordinate ascent over the SNPs ``active``, updating ``state`` (coef, bhat,
    log_ml, resp, residuals) in place and adding each SNP's terms to ``spread``; returns the
    largest standardized move."""
    coef, bhat_of, log_ml, resp, residuals = state
    largest_move = 0.0
    # One BLAS thread: a SNP's products are too small to share (a threaded ger of 2,000 x 30
    # takes four times as long as one thread's).
    with threadpool_limits(limits=1, user_api="blas"):
        for j in active:
            s = 1.0 / xx[j]
            old = coef[j].copy()
            bhat = old + residuals.at(j) * s
            log_ml[j], resp[j], mean, t, shrink = post._update(bhat, s, log_w)
            if spread is not None:
                spread.add(t, shrink, s, resp[j], mean, xx[j])
            residuals.move(j, mean - old)
            bhat_of[j] = bhat
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
    posterior_covariances: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> MrMashFit:
    """Fit Y = X B + E by coordinate-ascent variational empirical Bayes.

    ``x`` (n, p) and ``y`` (n, d) should be centred (the model has no intercept). The iteration
    stops when no posterior mean moves by more than ``tol`` times the largest one (or at
    ``max_iter``). ``residual_cov`` starts V (default: the covariance of ``y``); with
    ``update_residual_cov`` it is re-estimated after every sweep, counting the posterior
    variance of the effects, as the paper's update does. ``x`` in Fortran order saves a copy.
    ``posterior_covariances=False`` leaves ``coef_cov`` None (K d^3 per SNP, once at the end).
    """
    x, y = np.asfortranarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    (n, p), d = x.shape, y.shape[1]
    if prior.covariances.shape[1] != d:
        raise ValueError(f"the prior is for {prior.covariances.shape[1]} responses, y has {d}")
    xx = np.einsum("ij,ij->j", x, x)
    active = np.flatnonzero(xx > 0)
    coef = np.zeros((p, d)) if coef_init is None else np.array(coef_init, dtype=np.float64)
    bhat = np.zeros((p, d))  # each SNP's least-squares estimate at its last update
    log_ml, resp = np.zeros((p, len(prior.weights))), np.zeros((p, len(prior.weights)))
    resp[:, 0] = 1.0
    v = np.cov(y, rowvar=False).reshape(d, d) if residual_cov is None else np.array(residual_cov, dtype=np.float64)
    weights = prior.weights.copy()
    residuals = _Residuals(x, y, coef)
    # A move is measured on the scale of a standardized SNP and of the residual SD.
    move_scale = np.sqrt(xx / n)[:, None] / np.sqrt(np.diag(v))[None, :]
    converged, it, post = False, 0, None
    for it in range(1, int(max_iter) + 1):
        post = _Posterior(prior.covariances, v)
        log_w = np.log(np.maximum(weights, _MIN_WEIGHT))
        spread = _Spread(post) if update_residual_cov else None
        state = (coef, bhat, log_ml, resp, residuals)
        largest_move = _sweep(xx, active, post, log_w, move_scale, state, spread)
        resid = residuals.after_sweep(coef)
        if update_weights and len(active):
            weights = mixture_weights(log_ml[active], weights)
        if spread is not None:
            # E||Y - XB||^2 under the posterior: the residuals plus each effect's spread.
            v = (resid.T @ resid + spread.total()) / n
            v = (v + v.T) / 2 + 1e-10 * np.trace(v) / d * np.eye(d)
        if progress is not None:
            progress(it, int(max_iter))
        if largest_move <= tol:
            converged = True
            break
    coef_cov = _covariances(post, bhat, xx, resp, coef) if posterior_covariances else None
    return MrMashFit(coef, coef_cov, weights, v, resp, it, converged)


def _covariances(post: _Posterior | None, bhat, xx, resp, coef) -> np.ndarray:
    """The posterior covariances (p, d, d) of the last sweep (under its V), formed once; 0 for
    SNPs that do not vary, and for all before any sweep (``post`` None)."""
    p, d = coef.shape
    out = np.zeros((p, d, d))
    if post is not None:
        with threadpool_limits(limits=1, user_api="blas"):
            for j in np.flatnonzero(xx > 0):
                out[j] = post.covariance(bhat[j], 1.0 / xx[j], resp[j], coef[j])
    return out
