"""The evaluation protocol: metrics, confidence intervals, and (next) the evaluation runner."""

from genoface.evaluate._metrics import (
    RANK_SHARES,
    auc,
    bootstrap_ci,
    cmc,
    eer,
    genuine_impostor,
    identification_metrics,
    rank_threshold,
    ranks,
    select_among,
)

__all__ = [
    "RANK_SHARES",
    "auc",
    "bootstrap_ci",
    "cmc",
    "eer",
    "genuine_impostor",
    "identification_metrics",
    "rank_threshold",
    "ranks",
    "select_among",
]
