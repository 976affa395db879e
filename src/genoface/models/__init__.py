"""Models: one protocol (:class:`FaceModel`), one registry of names."""

from genoface.models._base import FaceModel, read_model_config
from genoface.models._lippert import DemographicModel, LippertModel
from genoface.models._mean import MeanFaceModel
from genoface.models._oracle import OracleModel
from genoface.models._registry import available_models, fit_model, get_model_class, make_model, register_model
from genoface.models._sero import SeroModel
from genoface.models.bayes import BayesModel
from genoface.models.difface import DiffaceModel
from genoface.models.mahdi import MahdiModel

__all__ = [
    "BayesModel",
    "DemographicModel",
    "DiffaceModel",
    "FaceModel",
    "LippertModel",
    "MahdiModel",
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
