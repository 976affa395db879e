"""Mahdi et al. (IEEE T-BIOM 2022): facial parts by hierarchical spectral clustering, one
SpiralNet++ encoder per part trained with a triplet loss, attribute classifiers fused into a
likelihood score, as the genoface model ``mahdi``."""

from genoface.models.mahdi._classifiers import CategoricalClassifiers, fit_fusion_weights, fused_log_proba
from genoface.models.mahdi._model import MahdiModel
from genoface.models.mahdi._network import PartEncoder, PartNetwork, triplet_loss
from genoface.models.mahdi._parts import FacialParts, facial_parts, vertex_rv

__all__ = [
    "CategoricalClassifiers",
    "FacialParts",
    "MahdiModel",
    "PartEncoder",
    "PartNetwork",
    "facial_parts",
    "fit_fusion_weights",
    "fused_log_proba",
    "triplet_loss",
    "vertex_rv",
]
