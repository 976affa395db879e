"""Models: one protocol (:class:`FaceModel`), one registry of names."""

from genoface.models._base import FaceModel, covariate_arrays, read_model_config
from genoface.models._demographic import DemographicModel
from genoface.models._features import genetic_male
from genoface.models._lippert import LippertModel
from genoface.models._mean import MeanFaceModel
from genoface.models._oracle import OracleModel
from genoface.models._registry import available_models, fit_model, get_model_class, make_model, register_model
from genoface.models._sero import SeroModel
from genoface.models.difface import DiffaceModel

__all__ = [
    "genetic_male",
    "covariate_arrays",
    "DemographicModel",
    "DiffaceModel",
    "FaceModel",
    "LippertModel",
    "MeanFaceModel",
    "OracleModel",
    "SeroModel",
    "available_models",
    "fit_model",
    "get_model_class",
    "make_model",
    "read_model_config",
    "register_model",
]
