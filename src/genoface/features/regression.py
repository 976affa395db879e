"""Linear maps from features to shape scores, their out-of-sample residual variance, and the
Gaussian likelihood ratio that matches faces to genomes with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
from sklearn.linear_model import RidgeCV


class LinearMap:
    """``x @ coef.T + intercept``: a fitted linear model kept as its coefficients (saved without
    the scikit-learn object, so loading needs no pickle)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef_, self.intercept_ = np.asarray(coef), np.asarray(intercept)

    @classmethod
    def of(cls, fitted) -> LinearMap:
        """The map of a fitted scikit-learn linear model (``coef_``, ``intercept_``)."""
        return cls(fitted.coef_, fitted.intercept_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef_.T + self.intercept_

    def to_arrays(self) -> dict[str, Any]:
        return {"coef": self.coef_, "intercept": np.asarray(self.intercept_)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Self:
        return cls(arrays["coef"], arrays["intercept"])


def fit_ridge(x: np.ndarray, y: np.ndarray, alphas: np.ndarray, seed: int) -> tuple[LinearMap, np.ndarray]:
    """Ridge of ``y`` on ``x`` (penalty chosen per target by leave-one-out) and its out-of-sample
    residual variance per target (:func:`holdout_residual_variance`)."""
    fitted = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x, y)
    return LinearMap.of(fitted), holdout_residual_variance(x, y, seed, alphas)


def holdout_residual_variance(x: np.ndarray, y: np.ndarray, seed: int, alphas: np.ndarray) -> np.ndarray:
    """Out-of-sample residual variance per target of a ridge fit: fit on one half, measure on
    the other, and the other way round (in-sample residuals would make a likelihood
    over-confident)."""
    order = np.random.default_rng(seed).permutation(len(x))
    halves = (order[: len(x) // 2], order[len(x) // 2 :])
    resid = []
    for a, b in (halves, halves[::-1]):
        model = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x[a], y[a])
        resid.append(y[b] - model.predict(x[b]))
    return np.maximum(np.concatenate(resid).var(axis=0), 1e-9)


def likelihood_ratio_scores(
    predicted: np.ndarray, variance: np.ndarray, observed: np.ndarray, marginal_variance: np.ndarray
) -> np.ndarray:
    """(n_genomes, n_faces) log-likelihood ratio of independent Gaussian shape scores: face j's
    scores ``observed[j]`` around genome i's ``predicted[i]`` with ``variance[i]``, against
    their population spread N(0, ``marginal_variance``) (centred PCA scores).

    The ratio, not the likelihood alone, is what ranks faces for a genome: a face near the
    population mean is close to every prediction and would otherwise match every genome.
    """
    w = 1.0 / variance
    # -0.5 * sum_k w_ik (o_jk - p_ik)^2, expanded so the (n_genomes, n_faces) matrix is one product.
    quad = (w * predicted**2).sum(1)[:, None] - 2 * (w * predicted) @ observed.T + w @ (observed**2).T
    log_marginal = -0.5 * (observed**2 / marginal_variance).sum(1) - 0.5 * np.log(marginal_variance).sum()
    return -0.5 * quad - 0.5 * np.log(variance).sum(1)[:, None] - log_marginal[None, :]
