"""Appearance traits from a genome: sex, continental ancestry, eye / hair / skin colour, height,
and polygenic scores from PGS Catalog scoring files. Every prediction carries probabilities or
an interval.

Out of the box, without a trained model: genetic sex (:func:`genetic_sex`) and the published
HIrisPlex-S webtool models of eye colour, hair colour and hair shade (:func:`webtool_models`,
coefficients shipped in ``genoface/traits/data``, see its README for their sources)."""

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
from genoface.traits._sex import SexPredictor, genetic_sex
from genoface.traits._webtool import (
    CITATIONS,
    HAIR_SHADES,
    PublishedModel,
    PublishedPrediction,
    irisplex_2011_model,
    predict_published,
    webtool_models,
)

__all__ = [
    "CATEGORICAL_TRAITS",
    "CITATIONS",
    "EYE_COLOURS",
    "HAIR_COLOURS",
    "HAIR_SHADES",
    "HIRISPLEX_S_SNPS",
    "IRISPLEX_SNPS",
    "QUANTITATIVE_TRAITS",
    "SKIN_COLOURS",
    "TRAITS_SUBDIR",
    "CategoricalTrait",
    "GaussianTrait",
    "PublishedModel",
    "PublishedPrediction",
    "SexPredictor",
    "TraitPredictions",
    "TraitPredictor",
    "genetic_sex",
    "irisplex_2011_model",
    "load_irisplex_coefficients",
    "load_trait_predictor",
    "panel_counts",
    "predict_published",
    "webtool_models",
]
