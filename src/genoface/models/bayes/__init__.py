"""``bayes``, genoface's own model: a multivariate Bayesian regression of shape scores (an
unshrunk demographic part, sparse SNP effects under mr.mash's mixture prior, a GBLUP
background) with a predictive distribution and calibrated likelihood-ratio matching."""

from genoface.models.bayes._background import Background, Kernel, StandardizedSNPs, fit_background, thin_evenly
from genoface.models.bayes._covariates import CovariatePart
from genoface.models.bayes._model import BayesModel
from genoface.models.bayes._mrmash import MixturePrior, MrMashFit, canonical_prior, fit_mr_mash, mixture_weights

__all__ = [
    "Background",
    "BayesModel",
    "CovariatePart",
    "Kernel",
    "MixturePrior",
    "MrMashFit",
    "StandardizedSNPs",
    "canonical_prior",
    "fit_background",
    "fit_mr_mash",
    "mixture_weights",
    "thin_evenly",
]
