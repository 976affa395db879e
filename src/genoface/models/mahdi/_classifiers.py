"""Calibrated classifiers of attributes from part embeddings, and their naive-Bayes fusion.

:class:`CategoricalClassifiers` holds L2 multinomial logistic regressions of m categorical
targets (one per SNP, or one attribute) on the same features, fitted at once: the logits of
class c are ``log prior_c + b_c + W_c · x`` and the penalty ``|W|² + |b|²`` (scikit-learn's
``C = 1``) shrinks every target towards its prior, so a class absent from training keeps its
prior probability. Why not scikit-learn's LogisticRegression: a model has hundreds of targets per
part (one per SNP) and one fit of all of them together, by L-BFGS on a single loss, takes what
scikit-learn takes for a few.

:func:`fit_fusion_weights` fuses the parts: ``log P(c | face) = log prior_c + sum_p w_p (log
P_p(c | face) - log prior_c)``, renormalized over classes (a logarithmic opinion pool). With all
weights 1 this is the naive-Bayes product of the parts' likelihood ratios; the parts overlap
(every level covers the whole face), so the weights are fitted, >= 0, to the held-out
log-likelihood of the labels: this is the calibration of the fused probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F

_LBFGS_ITERATIONS = 100


class CategoricalClassifiers:
    """m L2 multinomial logistic regressions of labels (n, m) in 0..C-1 (-1 unknown) on x (n, D)."""

    def __init__(self, log_prior: np.ndarray, penalty: float = 1.0) -> None:
        self.log_prior = np.asarray(log_prior, dtype=np.float64)  # (m, C)
        self.penalty = float(penalty)

    def fit(self, x: np.ndarray, labels: np.ndarray) -> Self:
        m, c = self.log_prior.shape
        xt = torch.as_tensor(x, dtype=torch.float64)
        y = torch.as_tensor(labels, dtype=torch.long)
        seen = y >= 0
        target = F.one_hot(y.clamp_min(0), c).to(torch.float64) * seen[..., None]  # (n, m, C)
        prior = torch.as_tensor(self.log_prior)
        w = torch.zeros((m, x.shape[1], c), dtype=torch.float64, requires_grad=True)
        b = torch.zeros((m, c), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([w, b], max_iter=_LBFGS_ITERATIONS, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logits = prior + b + torch.einsum("nd,mdc->nmc", xt, w)
            loss = -(target * torch.log_softmax(logits, dim=2)).sum()
            loss = (loss + 0.5 * self.penalty * (w.pow(2).sum() + b.pow(2).sum())) / len(xt)
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight, self.bias = w.detach().numpy(), b.detach().numpy()
        return self

    def log_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, m, C) log P(class | x)."""
        logits = self.log_prior + self.bias + np.einsum("nd,mdc->nmc", x, self.weight)
        return logits - _logsumexp(logits)

    def to_arrays(self) -> dict[str, Any]:
        return {"log_prior": self.log_prior, "weight": self.weight, "bias": self.bias}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Self:
        out = cls(arrays["log_prior"])
        out.weight, out.bias = np.asarray(arrays["weight"]), np.asarray(arrays["bias"])
        return out


def fused_log_proba(part_log_proba: np.ndarray, log_prior: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n, m, C) fused log P(class | face) from the parts' (P, n, m, C) (module docstring)."""
    ratio = part_log_proba - log_prior
    logits = log_prior + np.tensordot(weights, ratio, axes=(0, 0))
    return logits - _logsumexp(logits)


def fit_fusion_weights(part_log_proba: np.ndarray, labels: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """Weights (P,) >= 0 of the parts that maximize the log-likelihood of ``labels`` (n, m; -1
    unknown) under :func:`fused_log_proba` (held-out people: the calibration)."""
    n_parts = part_log_proba.shape[0]
    ratio = torch.as_tensor(part_log_proba - log_prior, dtype=torch.float64)
    prior = torch.as_tensor(log_prior, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    seen = y >= 0
    if not seen.any():
        return np.zeros(n_parts)
    # softplus(u) keeps the weights >= 0; start from 1 / P each (one whole face's worth).
    u = torch.full((n_parts,), float(np.log(np.expm1(1.0 / n_parts))), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([u], max_iter=_LBFGS_ITERATIONS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = prior + torch.tensordot(F.softplus(u), ratio, dims=([0], [0]))
        picked = torch.log_softmax(logits, dim=2).gather(2, y.clamp_min(0)[..., None])[..., 0]
        loss = -(picked * seen).sum() / seen.sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return F.softplus(u).detach().numpy()


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
