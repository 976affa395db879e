"""The evaluation protocol: metrics, confidence intervals and the runner that applies them."""

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
from genoface.evaluate._runner import (
    DEFAULT_MODELS,
    SETTINGS,
    SNP_FRACTIONS,
    EvaluationResult,
    Examples,
    evaluate_models,
    example_people,
    mask_genotypes,
)

__all__ = [
    "DEFAULT_MODELS",
    "SETTINGS",
    "SNP_FRACTIONS",
    "EvaluationResult",
    "Examples",
    "evaluate_models",
    "example_people",
    "mask_genotypes",
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
