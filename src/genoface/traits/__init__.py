"""Appearance traits from a genome: sex, continental ancestry, eye / hair / skin colour, height,
and polygenic scores from PGS Catalog scoring files. Every prediction carries probabilities or
an interval."""

from genoface.traits._classifiers import CategoricalTrait, GaussianTrait
from genoface.traits._panels import (
    EYE_COLOURS,
    HAIR_COLOURS,
    HIRISPLEX_S_SNPS,
    IRISPLEX_SNPS,
    SKIN_COLOURS,
    load_irisplex_coefficients,
    panel_counts,
)
from genoface.traits._predictor import (
    CATEGORICAL_TRAITS,
    QUANTITATIVE_TRAITS,
    TRAITS_SUBDIR,
    TraitPredictions,
    TraitPredictor,
    load_trait_predictor,
)

__all__ = [
    "CATEGORICAL_TRAITS",
    "EYE_COLOURS",
    "HAIR_COLOURS",
    "HIRISPLEX_S_SNPS",
    "IRISPLEX_SNPS",
    "QUANTITATIVE_TRAITS",
    "SKIN_COLOURS",
    "TRAITS_SUBDIR",
    "CategoricalTrait",
    "GaussianTrait",
    "TraitPredictions",
    "TraitPredictor",
    "load_irisplex_coefficients",
    "load_trait_predictor",
    "panel_counts",
]
