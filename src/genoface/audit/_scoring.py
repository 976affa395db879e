"""Lippert's maximum-likelihood matching: every trait a candidate has on record adds the log
likelihood ratio

    log P(candidate's trait | genome) - log P(candidate's trait)

to the score of the genome-candidate pair. With candidates drawn from the population, the
posterior that candidate c is the genome's owner is proportional to the product of these
ratios, so their sum is the right score; the denominator also stops candidates with common
trait values from matching every genome (the "hub" problem a plain likelihood has).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import norm

from genoface.traits import TraitPredictions

log = logging.getLogger(__name__)

#: Probabilities are floored here: a genotyping error must not make a match impossible.
P_FLOOR = 1e-4


def _log_p(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, P_FLOOR, 1.0))


def categorical_log_lr(
    probs: np.ndarray, categories: list[str], marginal: list[float], observed: pd.Series
) -> np.ndarray:
    """(n_genomes, n_candidates): log P(observed_c | genome) - log P(observed_c); 0 where the
    candidate has no value on record or one outside ``categories``."""
    observed = observed.astype("string").fillna("").to_numpy(dtype=str)
    col = pd.Index(categories).get_indexer(observed)
    out = np.zeros((probs.shape[0], len(observed)))
    known = col >= 0
    unknown = sorted(set(observed[~known]) - {""})
    if unknown:
        log.warning("candidate values %s are not among %s: they do not count", unknown[:5], categories)
    out[:, known] = _log_p(probs[:, col[known]]) - _log_p(np.asarray(marginal)[col[known]])[None, :]
    return out


def gaussian_log_lr(mean: np.ndarray, sd: np.ndarray, marginal: list[float], observed: pd.Series) -> np.ndarray:
    """(n_genomes, n_candidates): log N(x_c; mean_g, sd_g) - log N(x_c; population mean, SD); 0
    where the candidate has no value."""
    x = pd.to_numeric(observed, errors="coerce").to_numpy(dtype=float)
    out = np.zeros((len(mean), len(x)))
    ok = ~np.isnan(x)
    given = norm.logpdf(x[None, ok], loc=np.asarray(mean)[:, None], scale=np.asarray(sd)[:, None])
    out[:, ok] = given - norm.logpdf(x[ok], loc=marginal[0], scale=marginal[1])[None, :]
    return out


def trait_log_lr(
    predictions: TraitPredictions, candidates: pd.DataFrame, marginals: dict[str, list[float]]
) -> dict[str, np.ndarray]:
    """Per trait on record in ``candidates`` (sex, population, eye / hair / skin colour, height),
    the (n_genomes, n_candidates) log likelihood ratios of :mod:`this module <genoface.audit._scoring>`.

    ``marginals`` holds the population frequencies of categories and the mean and SD of
    quantitative traits (``TraitPredictor.marginals_``), including "sex" ([F, M]) and, with an
    ancestry reference, "population" ({group: frequency}).
    """
    out: dict[str, np.ndarray] = {}
    if "sex" in candidates and predictions.p_male is not None:
        probs = np.column_stack([1 - predictions.p_male, predictions.p_male])
        out["sex"] = categorical_log_lr(probs, ["F", "M"], marginals["sex"], candidates["sex"])
    if "population" in candidates and predictions.ancestry is not None and "population" in marginals:
        groups = [c[2:] for c in predictions.ancestry.columns if c.startswith("p_")]
        probs = predictions.ancestry[[f"p_{g}" for g in groups]].to_numpy()
        freq = [float(marginals["population"].get(g, 0.0)) for g in groups]
        out["population"] = categorical_log_lr(probs, groups, freq, candidates["population"])
    for trait, probs in predictions.categorical.items():
        if trait in candidates:
            out[trait] = categorical_log_lr(probs, predictions.categories[trait], marginals[trait], candidates[trait])
    for trait, (mean, sd) in predictions.quantitative.items():
        if trait in candidates:
            out[trait] = gaussian_log_lr(mean, sd, marginals[trait], candidates[trait])
    return out
