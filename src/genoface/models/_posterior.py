"""The face a matching model "predicts": its tempered posterior mean over the training faces.

Matching models (``sero``, ``mahdi``) score a genome against faces; they generate none. The
protocol still reports a face error for every model, so they return
``E[face | genome] = sum_j w_j face_j`` with ``w_j`` proportional to ``exp(tau * score(genome,
face_j))`` over the training faces (a uniform prior over them). A naive-Bayes score is sharper
than a true posterior (its terms are not independent), and an over-sharp posterior picks a few
training faces, so the temperature ``tau`` is chosen at fit time: the one whose posterior mean,
leaving each person's own face out, lies closest to that face (``tau = 0``: the mean training
face).
"""

from __future__ import annotations

import numpy as np

#: Candidate temperatures of the posterior mean face (0: the mean of the training faces).
TEMPERATURES = np.array([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0])
#: Training people on whom the temperature is chosen.
N_TEMPER = 1000


def softmax_rows(logw: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, m) log-weights (-inf allowed, at least one finite per row)."""
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def temper_rows(n: int, random_state: int) -> np.ndarray:
    """The (sorted) training people on whom the temperature is chosen."""
    return np.sort(np.random.default_rng(random_state).permutation(n)[:N_TEMPER])


def choose_temperature(score: np.ndarray, rows: np.ndarray, train_values: np.ndarray) -> float:
    """The temperature whose leave-own-face-out posterior mean of ``train_values`` (n_train, k;
    e.g. unwhitened shape scores) is closest, in mean squared distance, to the own value, for
    the people ``rows`` whose scores against every training face are ``score`` (len(rows), n_train)."""
    own = train_values[rows]
    errors = []
    for tau in TEMPERATURES:
        logw = tau * score
        logw[np.arange(len(rows)), rows] = -np.inf  # leave the person's own face out
        errors.append((((softmax_rows(logw) @ train_values) - own) ** 2).sum(axis=1).mean())
    return float(TEMPERATURES[int(np.argmin(errors))])
