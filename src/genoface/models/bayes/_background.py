"""The polygenic background: GBLUP of each shape component on all SNPs, with the genetic and
residual variances of each component estimated by maximum (marginal) likelihood.

Var(y_c) = sigma2_g,c K + sigma2_e,c I with K = Z Z' / p (Z: standardized SNPs). One
eigendecomposition of K (or of Z'Z when there are fewer SNPs than people) serves every
component: after it, each component's likelihood is a function of one number, the heritability
h2_c, maximized on [0, 0.99] by a bounded scalar search. The BLUP is kept as SNP effects
beta_c = Z' (K + delta_c I)^-1 y_c / p (delta_c = sigma2_e / sigma2_g), so a new genome is
predicted from its own SNPs, without the training people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from scipy.optimize import minimize_scalar

#: Largest heritability searched: at 1 the residual variance vanishes and delta is 0.
_MAX_H2 = 0.99


@dataclass
class Background:
    """SNP effects (p, d) of the BLUP, and per component: heritability, genetic and residual
    variance, and the share of the genetic variance the BLUP predicts in the training people."""

    coef: np.ndarray
    h2: np.ndarray
    genetic_var: np.ndarray
    residual_var: np.ndarray
    reliability: np.ndarray


class Kernel:
    """The eigendecomposition of K = Z Z' / p of the training people, computed once."""

    def __init__(self, z: np.ndarray) -> None:
        self.z = np.asarray(z, dtype=np.float64)
        n, p = self.z.shape
        self.n, self.p = n, p
        if n <= p:
            lam, q = eigh(self.z @ self.z.T / p)
        else:  # fewer SNPs than people: K's nonzero eigenpairs from the p x p matrix
            lam, v = eigh(self.z.T @ self.z / p)
            keep = lam > 1e-10 * max(lam.max(), 1e-300)
            lam, v = lam[keep], v[:, keep]
            q = self.z @ v / np.sqrt(lam * p)
        keep = lam > 1e-10 * max(lam.max(), 1e-300)
        self.lam, self.q = lam[keep], q[:, keep]


def _neg_log_lik(h2: float, lam: np.ndarray, proj2: np.ndarray, perp2: float, n: int) -> float:
    """Minus the profile log-likelihood of one component at heritability ``h2`` (scale
    profiled out): eigenvalues h2 lam + 1 - h2 on K's range, 1 - h2 on its null space."""
    e = h2 * lam + (1 - h2)
    n_perp = n - len(lam)
    quad = (proj2 / e).sum() + (perp2 / (1 - h2) if n_perp > 0 else 0.0)
    logdet = np.log(e).sum() + (n_perp * np.log(1 - h2) if n_perp > 0 else 0.0)
    return 0.5 * (n * np.log(quad / n) + logdet)


def fit_background(kernel: Kernel, y: np.ndarray) -> Background:
    """ML heritability and BLUP SNP effects of each column of ``y`` (n, d; centred)."""
    y = np.asarray(y, dtype=np.float64)
    n, d = y.shape
    proj = kernel.q.T @ y  # (r, d)
    perp2 = np.maximum((y**2).sum(0) - (proj**2).sum(0), 0.0)
    h2 = np.empty(d)
    for c in range(d):
        best = minimize_scalar(
            _neg_log_lik,
            bounds=(0.0, _MAX_H2),
            method="bounded",
            args=(kernel.lam, proj[:, c] ** 2, perp2[c], n),
            options={"xatol": 1e-4},
        )
        h2[c] = best.x if best.fun <= _neg_log_lik(0.0, kernel.lam, proj[:, c] ** 2, perp2[c], n) else 0.0
    total = np.empty(d)
    coef = np.zeros((kernel.p, d))
    reliability = np.zeros(d)
    for c in range(d):
        e = h2[c] * kernel.lam + (1 - h2[c])
        total[c] = ((proj[:, c] ** 2 / e).sum() + perp2[c] / (1 - h2[c])) / n
        if h2[c] <= 0:
            continue
        # (K + delta I)^-1 y through the eigenvectors (1 / (lam + delta) = h2 / e); Z' kills
        # the part of y in K's null space.
        alpha = kernel.q @ (proj[:, c] * h2[c] / e)
        coef[:, c] = kernel.z.T @ alpha / kernel.p
        g_hat = kernel.q @ (proj[:, c] * h2[c] * kernel.lam / e)
        genetic = h2[c] * total[c]
        reliability[c] = min(float(g_hat.var() / genetic), 1.0) if genetic > 0 else 0.0
    return Background(coef, h2, h2 * total, (1 - h2) * total, reliability)
