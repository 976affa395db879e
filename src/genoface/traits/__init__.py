"""Appearance traits from a genome: sex, continental ancestry, eye / hair / skin colour, height,
and polygenic scores from PGS Catalog scoring files. Every prediction carries probabilities or
an interval.

Out of the box, without a trained model: genetic sex (:func:`genoface.genetics.genetic_sex`) and, given the
folder of their tables (not shipped; :func:`hirisplex_folder`), the published HIrisPlex-S webtool models of
eye colour, hair colour and hair shade (:func:`webtool_models`; sources in ``genoface/traits/data/README.md``)."""

from genoface.traits._ancestry import AncestryModel, admixture_proportions
from genoface.traits._classifiers import CategoricalTrait, GaussianTrait
from genoface.traits._panels import (
    EYE_COLOURS,
    HAIR_COLOURS,
    HIRISPLEX_S_SNPS,
    IRISPLEX_SNPS,
    SKIN_COLOURS,
    irisplex_from_spec,
    load_irisplex_coefficients,
    panel_counts,
)
from genoface.traits._pgs import matched_variants, read_scoring_file, score, scoring_panel
from genoface.traits._predictor import (
    BASES,
    CATEGORICAL_TRAITS,
    QUANTITATIVE_TRAITS,
    TRAITS_SUBDIR,
    TraitPredictions,
    TraitPredictor,
    load_trait_predictor,
)
from genoface.traits._webtool import (
    CITATIONS,
    FREQUENCY_POPULATIONS,
    HAIR_SHADES,
    IRISPLEX_2011,
    MAX_MARGINALIZED,
    TABLE_FILES,
    TABLES_ENV,
    PublishedModel,
    PublishedPrediction,
    hirisplex_folder,
    irisplex_2011_model,
    panel_frequencies,
    predict_published,
    published_model,
    reference_frequencies,
    webtool_models,
    webtool_panel,
)

__all__ = [
    "MAX_MARGINALIZED",
    "TABLE_FILES",
    "TABLES_ENV",
    "hirisplex_folder",
    "panel_frequencies",
    "reference_frequencies",
    "matched_variants",
    "AncestryModel",
    "admixture_proportions",
    "BASES",
    "FREQUENCY_POPULATIONS",
    "IRISPLEX_2011",
    "irisplex_from_spec",
    "published_model",
    "read_scoring_file",
    "score",
    "scoring_panel",
    "webtool_panel",
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
    "TraitPredictions",
    "TraitPredictor",
    "irisplex_2011_model",
    "load_irisplex_coefficients",
    "load_trait_predictor",
    "panel_counts",
    "predict_published",
    "webtool_models",
]
