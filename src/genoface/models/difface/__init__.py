"""Difface (Jiao et al., Advanced Science 2025): SNP transformer, spiral-convolution mesh
autoencoder, contrastive alignment and a latent diffusion prior, as the genoface model
``difface``."""
