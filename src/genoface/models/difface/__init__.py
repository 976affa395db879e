"""Difface (Jiao et al., Advanced Science 2025): SNP transformer, spiral-convolution mesh
autoencoder, contrastive alignment and a latent diffusion prior, as the genoface model
``difface``."""

from genoface.models.difface._diffusion import Denoiser, LatentDiffusion, cosine_schedule
from genoface.models.difface._distributed import torchrun_ranks
from genoface.models.difface._mesh_net import MeshAutoencoder, Pool, SpiralConv
from genoface.models.difface._model import DiffaceModel
from genoface.models.difface._snp_encoder import (
    CovariateEncoder,
    LearnableTemperature,
    SNPTransformer,
    chromosome_codes,
    clip_loss,
    sinusoidal_position_encoding,
)

__all__ = [
    "CovariateEncoder",
    "Denoiser",
    "DiffaceModel",
    "LatentDiffusion",
    "LearnableTemperature",
    "MeshAutoencoder",
    "Pool",
    "SNPTransformer",
    "SpiralConv",
    "chromosome_codes",
    "clip_loss",
    "cosine_schedule",
    "sinusoidal_position_encoding",
    "torchrun_ranks",
]
