"""Held-out figures of the trait predictions, added to an evaluation (metrics.json "traits")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genoface.cohort import Cohort
from genoface.traits import TraitPredictions, TraitPredictor


def _categorical_record(trait: str, basis: str, p: np.ndarray, categories: list[str], labels: pd.Series) -> dict:
    known = labels.notna().to_numpy()
    y = pd.Index(categories).get_indexer(labels[known].astype(str))
    p = p[known]
    return {
        "trait": trait,
        "basis": basis,
        "n": int(known.sum()),
        "accuracy": float(np.mean(p.argmax(axis=1) == y)),
        "log_loss": float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)))),
    }


def trait_metrics(predictor: TraitPredictor, test: Cohort, preds: dict[str, TraitPredictions]) -> list[dict]:
    """Per trait and basis ("dna", "demographic", and "marginal": the training frequencies, the
    no-information baseline): accuracy and log loss of categorical traits; RMSE and the share of
    people inside their 95% interval for quantitative ones. ``preds``: the predictor's
    ``predict_bases(test)``."""
    cov = test.covariates.reindex(test.sample_ids)
    out = []
    if "sex" in cov and preds["dna"].p_male is not None:
        p_male = preds["dna"].p_male
        out.append(_categorical_record("sex", "dna", np.column_stack([1 - p_male, p_male]), ["F", "M"], cov["sex"]))
    if preds["dna"].ancestry is not None and "population" in cov:
        a = preds["dna"].ancestry
        groups = [c[2:] for c in a.columns if c.startswith("p_")]
        out.append(
            _categorical_record(
                "population", "dna", a[[f"p_{g}" for g in groups]].to_numpy(), groups, cov["population"]
            )
        )
    for trait in preds["dna"].categorical:
        if trait not in cov:
            continue
        cats = preds["dna"].categories[trait]
        for basis, pred in preds.items():
            out.append(_categorical_record(trait, basis, pred.categorical[trait], cats, cov[trait]))
        marginal = np.tile(predictor.marginals_[trait], (test.n_samples, 1))
        out.append(_categorical_record(trait, "marginal", marginal, cats, cov[trait]))
    for trait in preds["dna"].quantitative:
        if trait not in cov:
            continue
        y = cov[trait].to_numpy(dtype=float)
        ok = ~np.isnan(y)
        marginal = predictor.marginals_[trait]
        for basis, (mean, sd) in [
            *((b, p.quantitative[trait]) for b, p in preds.items()),
            ("marginal", (np.full(len(y), marginal[0]), np.full(len(y), marginal[1]))),
        ]:
            out.append(
                {
                    "trait": trait,
                    "basis": basis,
                    "n": int(ok.sum()),
                    "rmse": float(np.sqrt(np.mean((y[ok] - mean[ok]) ** 2))),
                    "coverage95": float(np.mean(np.abs(y[ok] - mean[ok]) <= 1.96 * sd[ok])),
                }
            )
    return out
