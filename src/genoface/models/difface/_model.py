"""The registered model ``difface``: Difface's networks trained and used on the genoface protocol.

Training (:meth:`DiffaceModel.fit`), on the training people only:

1. SNP selection: a multivariate GWAS of shape-PCA scores adjusted for ancestry PCs and genetic
   sex (as ``lippert`` and ``sero``), ``n_snps`` clumped autosomal SNPs.
2. Stage 1, alignment: the mesh autoencoder (SpiralNet++) and the genome encoder (SNP
   transformer + covariate encoder + ancestry PCs) are trained together, with the L1
   reconstruction loss (weight ``recon_weight``, Difface: 10) plus the CLIP loss between the
   genome embedding and the face latent, with a learnable temperature.
3. Stage 2, prior: the networks of stage 1 are frozen; a DDPM over the standardized face latents
   (cosine schedule, x0 prediction) learns p(latent | genome embedding), with the condition
   dropped at random for classifier-free guidance. The genome embedding is computed afresh for
   each batch with SNPs and covariates dropped at random, so the prior sees genomes with missing
   SNPs and people with and without covariates.

Prediction: the genome embedding (genetic sex from chromosome X, or the given sex; age and BMI
when given) conditions the prior; :meth:`sample` decodes random DDIM draws from it, and
:meth:`predict` decodes the point estimate used for the error metrics: a least-squares estimate
of E[latent | genome] trained beside the prior (or, with ``point_estimate="diffusion"``, the
deterministic DDIM trajectory from x_T = 0). Matching (:meth:`score_matrix`) is Difface's: the cosine similarity of the genome
embedding and the face latent in the contrastive space, times the learnt logit scale.

Deviations from the published model, and why:
- SNPs are grouped into at most ``max_tokens`` patch tokens (the SNP transformer's docstring): full
  attention over thousands of SNP tokens is too slow on a CPU.
- Genetic sex and ancestry PCs join the genome embedding: the GWAS selects SNPs adjusted for
  them, so otherwise the model would not know two of the strongest genetic determinants of a face.
- Covariates are optional inputs of one model (dropped at random in training), not a second model.
- Faces are standardized (mean face, one scalar SD) before the autoencoder; latents are
  standardized per dimension before the prior.
- The point prediction is a linear least-squares head on the genome embedding rather than a
  diffusion sample (see :meth:`DiffaceModel.predict`); the diffusion prior serves ``sample``.

Training on several processes (``processes=N``, ``genoface train --processes N``, or ``torchrun``):
both stages run data-parallel with torch.distributed (DDP; gloo on the CPU, NCCL on CUDA with one
GPU per process). Each mini-batch is split into equal shares, one per process, and the CLIP loss
and the latent's variance see the whole batch through an all-gather, so the effective batch, and
the loss curve, are one process's (see the ``_distributed`` module and docs/scale.md). SNP
selection and the ancestry PCA run once, before the processes start.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genoface.core.errors import GenofaceError
from genoface.core.state import with_prefix, without_prefix
from genoface.features import DemographicFeatures, covariate_arrays, select_face_snps
from genoface.genetics import align_dosages
from genoface.models._base import FaceModel, genotype_arrays
from genoface.models._checkpoint import fit_fingerprint, read_checkpoint, write_checkpoint
from genoface.models._registry import register_model
from genoface.models.difface._diffusion import LatentDiffusion
from genoface.models.difface._distributed import (
    Ranks,
    TrainStep,
    check_processes,
    torchrun_group,
    torchrun_ranks,
    train_in_processes,
)
from genoface.models.difface._mesh_net import MeshAutoencoder
from genoface.models.difface._snp_encoder import (
    CovariateEncoder,
    LearnableTemperature,
    SNPTransformer,
    chromosome_codes,
    clip_loss,
)
from genoface.shape import ShapePCA

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


class DiffaceNetwork(nn.Module):
    """Every trained part of Difface in one module (one state_dict to save and load)."""

    def __init__(
        self,
        template_vertices: np.ndarray,
        template_triangles: np.ndarray,
        chrom_codes: np.ndarray,
        positions: np.ndarray,
        n_pcs: int,
        age_moments: tuple[float, float],
        bmi_moments: tuple[float, float],
        *,
        channels: tuple[int, ...],
        latent_dim: int,
        spiral_length: int,
        factors: tuple[int, ...],
        dim: int,
        depth: int,
        heads: int,
        max_tokens: int | None,
        snp_drop: float,
        cov_drop: float,
        diffusion_steps: int,
        cond_drop: float,
    ) -> None:
        super().__init__()
        self.autoencoder = MeshAutoencoder(
            template_vertices,
            template_triangles,
            channels=channels,
            latent_dim=latent_dim,
            spiral_length=spiral_length,
            factors=factors,
        )
        self.snps = SNPTransformer(
            len(chrom_codes), chrom_codes, positions, dim=dim, depth=depth, heads=heads,
            snp_drop=snp_drop, max_tokens=max_tokens,
        )  # fmt: skip
        self.covariates = CovariateEncoder(dim, age_moments=age_moments, bmi_moments=bmi_moments, cov_drop=cov_drop)
        self.ancestry = nn.Linear(n_pcs, dim)
        self.genome_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        self.face_head = nn.Linear(latent_dim, dim)
        self.temperature = LearnableTemperature()
        self.prior = LatentDiffusion(latent_dim, dim, n_steps=diffusion_steps, cond_drop=cond_drop)
        # E[latent | genome] by least squares, trained beside the prior (see DiffaceModel.predict).
        self.latent_head = nn.Linear(dim, latent_dim)
        # Face and latent standardization, set from the training people by fit().
        self.register_buffer("face_scale", torch.ones(()))
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    def genome_embedding(self, genotypes, pcs, is_male, age, bmi) -> torch.Tensor:
        """(B, dim): SNP transformer + ancestry PCs + optional covariates."""
        h = self.snps(genotypes) + self.ancestry(pcs) + self.covariates(age=age, is_male=is_male, bmi=bmi)
        return self.genome_head(h)

    def face_latent(self, faces_mm: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(faces_mm / self.face_scale)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode(latent) * self.face_scale


@register_model
class DiffaceModel(FaceModel):
    """Difface: SNP transformer + spiral-convolution mesh autoencoder + CLIP alignment + latent
    diffusion, with optional age/sex/BMI (see the module docstring).

    Parameters
    ----------
    n_snps : SNPs selected by the GWAS (published: 7,842).
    max_tokens : SNP patch tokens the transformer attends over.
    dim, depth, heads : width of the genome embedding (published 128), transformer layers (2), heads.
    latent_dim, channels, spiral_length, factors : the mesh autoencoder (published: 128-d latent,
        spiral length 9, 4 levels).
    recon_weight : weight of the L1 reconstruction loss against the CLIP loss (published: 10).
    latent_weight : weight of a least-squares loss, in stage 1, of the face latent predicted from
        the genome embedding (0: the published CLIP-only alignment). CLIP only teaches the genome
        encoder to rank faces; this term also teaches it to place them, which the point
        prediction needs (see docs/difface.md).
    epochs, prior_epochs : passes over the training people in stage 1 and stage 2.
    max_steps, prior_max_steps : caps on the optimizer steps of each stage (None: no cap); with
        the defaults a cohort of a few hundred people runs every epoch, 8,000 people about 12
        and 40 epochs.
    batch_size, learning_rate : Adam's batch and step size.
    snp_drop, cov_drop, cond_drop : training drop rates of SNPs, covariates and the prior's condition.
    diffusion_steps, ddim_steps, guidance : DDPM steps (published 1,000), DDIM steps used to
        sample, classifier-free guidance of :meth:`sample` (``predict`` always uses 1).
    point_estimate : "regression" or "diffusion": what :meth:`predict` returns.
    n_pcs, n_shape_components, clump_bp : genome features and SNP selection, as in
        ``lippert``.
    checkpoint_dir : where to keep a checkpoint after every epoch; an interrupted fit with the
        same data and parameters resumes from it.
    device : torch device to train and predict on ("cpu", "cuda").
    processes : train data-parallel on this many processes (torch.distributed DDP: gloo on the
        CPU, NCCL with one GPU each on "cuda"), spawned by ``fit`` on this machine; each takes
        an equal share of every mini-batch (``batch_size`` must be a multiple), so the loss
        curve is one process's, and torch's threads are divided among them. A script that calls
        ``fit`` with ``processes > 1`` needs the ``if __name__ == "__main__":`` guard (the
        processes are spawned). Under ``torchrun`` (RANK and WORLD_SIZE set) leave it at 1: each
        process torchrun started fits as one rank, and every rank ends with the same model.
        Checkpoints are written by rank 0 and resume with any number of processes.
    random_state : seed of everything random (initialisation, batches, drops, sampling); with
        several processes each draws its drops and noise from its own stream, seeded from
        (random_state, rank, stage, epoch).
    """

    name = "difface"

    def __init__(
        self,
        n_snps: int = 1000,
        max_tokens: int = 64,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        latent_dim: int = 128,
        channels: tuple[int, ...] = (16, 16, 16, 32),
        spiral_length: int = 9,
        factors: tuple[int, ...] = (4, 4, 4, 4),
        recon_weight: float = 10.0,
        latent_weight: float = 1.0,
        epochs: int = 30,
        prior_epochs: int = 200,
        max_steps: int | None = 3000,
        prior_max_steps: int | None = 10_000,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        snp_drop: float = 0.1,
        cov_drop: float = 0.25,
        cond_drop: float = 0.1,
        diffusion_steps: int = 1000,
        ddim_steps: int = 50,
        guidance: float = 1.0,
        point_estimate: str = "regression",
        n_pcs: int = 4,
        n_shape_components: int = 30,
        clump_bp: int = 20_000,
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        processes: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_snps = n_snps
        self.max_tokens = max_tokens
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.latent_dim = latent_dim
        self.channels = channels
        self.spiral_length = spiral_length
        self.factors = factors
        self.recon_weight = recon_weight
        self.latent_weight = latent_weight
        self.epochs = epochs
        self.prior_epochs = prior_epochs
        self.max_steps = max_steps
        self.prior_max_steps = prior_max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.snp_drop = snp_drop
        self.cov_drop = cov_drop
        self.cond_drop = cond_drop
        self.diffusion_steps = diffusion_steps
        self.ddim_steps = ddim_steps
        self.guidance = guidance
        self.point_estimate = point_estimate
        self.n_pcs = n_pcs
        self.n_shape_components = n_shape_components
        self.clump_bp = clump_bp
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.processes = processes
        self.random_state = random_state

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, cohort, *, progress: Progress | None = None) -> Self:
        progress = progress or (lambda stage, done, total: None)
        if self.point_estimate not in ("regression", "diffusion"):
            raise GenofaceError(f"point_estimate must be 'regression' or 'diffusion', got {self.point_estimate!r}")
        check_processes(self.processes, self.batch_size, self.device)
        n = cohort.n_samples
        if n < 2 * int(self.batch_size) or n < 20:
            raise GenofaceError(
                f"the difface model needs at least {max(20, 2 * int(self.batch_size))} training people, got {n}"
            )
        torch.manual_seed(int(self.random_state))
        rng = np.random.default_rng(int(self.random_state))
        faces = np.array(cohort.faces, dtype=np.float32)  # a writable copy (the cohort may be memory-mapped)

        # Genome features and SNP selection (training people only).
        shape_scores = ShapePCA(min(int(self.n_shape_components), n - 2)).fit_transform(faces.astype(np.float64))
        self.demographics_ = DemographicFeatures(self.n_pcs, self.random_state)
        people = self.demographics_.fit(cohort, self.name)
        pcs, male = people.pcs, people.male
        self.pcs_moments_ = (pcs.mean(axis=0), np.maximum(pcs.std(axis=0), 1e-12))
        cols = select_face_snps(cohort, shape_scores, people.genome_block(), self.n_snps, self.clump_bp)
        cols = np.sort(cols)
        self.snps_ = cohort.variants["id"].to_numpy()[cols].astype(str)
        self.snp_chrom_ = chromosome_codes(cohort.variants["chrom"].to_numpy()[cols])
        self.snp_pos_ = cohort.variants["pos"].to_numpy()[cols].astype(np.int64)
        cov = covariate_arrays(cohort.sample_ids, cohort.covariates)  # the recorded sex trains the network
        self.age_moments_, self.bmi_moments_ = self.demographics_.age_moments_, self.demographics_.bmi_moments_

        self.net_ = self._build_network(cohort.template_vertices, cohort.template_triangles)
        net = self.net_
        mean_face = torch.from_numpy(faces.mean(axis=0))
        net.autoencoder.mean.copy_(mean_face / float(faces.std()))
        net.face_scale.fill_(float(faces.std()))

        # The screened SNPs of every training person are read once, up front, and held in memory
        # as int8 (n x n_snps: 100,000 people x 1,000 SNPs are 100 MB; a lazy cohort's store is
        # read by column); mini-batches are rows of these tensors, which spawned processes share.
        data = _Tensors(
            faces=torch.from_numpy(faces),
            genotypes=torch.from_numpy(np.asarray(cohort.genotypes[:, cols], dtype=np.int8)),
            pcs=torch.from_numpy(self._standard_pcs(pcs)),
            is_male=torch.from_numpy(_given_or(cov["is_male"], male)),
            age=torch.from_numpy(_or_nan(cov["age"], n)),
            bmi=torch.from_numpy(_or_nan(cov["bmi"], n)),
        )
        self.history_ = {
            "reconstruction_l1_mm": [], "contrastive": [], "alignment_latent_regression": [],
            "diffusion": [], "latent_regression": [],
        }  # fmt: skip
        self._n_train = n
        state = self._resume(cohort)
        self._train(data, rng, state, progress)
        net.eval()
        self._remember_cohort(cohort)
        self.fitted_ = True
        return self

    def _build_network(self, template_vertices, template_triangles) -> DiffaceNetwork:
        net = DiffaceNetwork(
            np.asarray(template_vertices, dtype=np.float64),
            np.asarray(template_triangles, dtype=np.int64),
            self.snp_chrom_,
            self.snp_pos_,
            int(self.n_pcs),
            self.age_moments_,
            self.bmi_moments_,
            channels=tuple(self.channels),
            latent_dim=int(self.latent_dim),
            spiral_length=int(self.spiral_length),
            factors=tuple(self.factors),
            dim=int(self.dim),
            depth=int(self.depth),
            heads=int(self.heads),
            max_tokens=None if self.max_tokens is None else int(self.max_tokens),
            snp_drop=float(self.snp_drop),
            cov_drop=float(self.cov_drop),
            diffusion_steps=int(self.diffusion_steps),
            cond_drop=float(self.cond_drop),
        )
        return net.to(self.device)

    def _train(self, data: _Tensors, rng, state: dict, progress: Progress) -> None:
        """Both stages: in this process, on ``processes`` spawned ranks, or as one rank of those
        torchrun started."""
        if torchrun_ranks() is not None:
            if int(self.processes) > 1:
                raise GenofaceError("under torchrun leave processes at 1: torchrun chose the number of processes")
            with torchrun_group(self.device) as ranks:
                self._train_stages(data, rng, state, progress if ranks.primary else _quiet, ranks)
        elif int(self.processes) > 1:
            self.net_.cpu()  # the ranks receive it pickled and move it to their own device
            fitted = train_in_processes(self, data, rng, state, progress)
            self.net_.load_state_dict(fitted["network"])
            self.net_.to(self.device)
            self.history_ = json.loads(fitted["history"])
        else:
            self._train_stages(data, rng, state, progress, Ranks())

    def _train_stages(self, data: _Tensors, rng, state: dict, progress: Progress, ranks: Ranks) -> None:
        """Stage 1 then stage 2, as rank ``ranks.rank`` of ``ranks.world``."""
        self._train_alignment(data, rng, state, progress, ranks)
        self._train_prior(data, rng, state, progress, ranks)

    def _train_alignment(self, data: _Tensors, rng, state: dict, progress: Progress, ranks: Ranks) -> None:
        """Stage 1: autoencoder + genome encoder, L1 reconstruction + CLIP (+ latent regression)."""
        net = self.net_
        modules = [net.autoencoder, net.snps, net.covariates, net.ancestry, net.genome_head, net.face_head]
        modules += [net.latent_head] if float(self.latent_weight) > 0 else []
        params = [p for m in modules for p in m.parameters()] + list(net.temperature.parameters())
        optimizer = torch.optim.Adam(params, lr=float(self.learning_rate))
        start = self._restore(state, "alignment", optimizer, rng)
        epochs = self._epochs("alignment", data.n)
        if start >= epochs:  # finished before the checkpoint
            return
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), last_epoch=start - 1)
        weights = {"recon_weight": float(self.recon_weight), "latent_weight": float(self.latent_weight)}
        loss = functools.partial(_alignment_loss, ranks=ranks, **weights)
        step = ranks.wrap(TrainStep(net, [*modules, net.temperature], loss))
        for epoch in range(start, epochs):
            net.train()
            ranks.seed_epoch(self.random_state, 1, epoch)
            sums = [0.0, 0.0, 0.0]
            batches = self._batches(data.n, rng)
            for rows in batches:
                losses = self._alignment_step(step, data.batch(ranks.share(rows), self.device), optimizer)
                sums = [total + value for total, value in zip(sums, losses, strict=True)]
            schedule.step()
            recon, contrastive, regression = ranks.mean([total / len(batches) for total in sums])
            self.history_["reconstruction_l1_mm"].append(recon)
            self.history_["contrastive"].append(contrastive)
            if float(self.latent_weight) > 0:
                self.history_["alignment_latent_regression"].append(regression)
            self._checkpoint("alignment", epoch + 1, optimizer, rng, ranks)
            progress("difface: alignment", epoch + 1, epochs)

    def _alignment_step(self, step: nn.Module, b: _Batch, optimizer) -> tuple[float, float, float]:
        """One optimizer step on this rank's share ``b`` of a batch; its losses (the L1 in mm)."""
        loss, l1, contrastive, regression = step(b.faces, b.genotypes, b.pcs, b.is_male, b.age, b.bmi)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return l1.item() * self.net_.face_scale.item(), contrastive.item(), regression.item()

    def _train_prior(self, data: _Tensors, rng, state: dict, progress: Progress, ranks: Ranks) -> None:
        """Stage 2: the latent diffusion prior, conditioned on the frozen genome encoder."""
        net = self.net_
        z = self._standard_latents(data, state)
        optimizer = torch.optim.Adam(
            [*net.prior.parameters(), *net.latent_head.parameters()], lr=float(self.learning_rate)
        )
        start = self._restore(state, "prior", optimizer, rng)
        epochs = self._epochs("prior", data.n)
        step = ranks.wrap(TrainStep(net, [net.prior, net.latent_head], _prior_pass))
        for epoch in range(start, epochs):
            ranks.seed_epoch(self.random_state, 2, epoch)
            sums = [0.0, 0.0]
            batches = self._batches(data.n, rng)
            for rows in batches:
                share = ranks.share(rows)
                target = z[torch.as_tensor(share)].to(self.device)
                losses = self._prior_step(step, data.batch(share, self.device), target, optimizer)
                sums = [total + value for total, value in zip(sums, losses, strict=True)]
            diffusion, regression = ranks.mean([total / len(batches) for total in sums])
            self.history_["diffusion"].append(diffusion)
            self.history_["latent_regression"].append(regression)
            self._checkpoint("prior", epoch + 1, optimizer, rng, ranks)
            progress("difface: diffusion prior", epoch + 1, epochs)

    def _standard_latents(self, data: _Tensors, state: dict) -> torch.Tensor:
        """The frozen autoencoder's latents of every training person, standardized (every rank
        computes all of them: one forward pass, the same on each)."""
        net = self.net_
        with torch.no_grad():
            net.eval()
            latents = torch.cat(
                [
                    net.face_latent(data.batch(rows, self.device).faces)
                    for rows in np.array_split(np.arange(data.n), max(1, data.n // 256))
                ]
            )
            if state.get("stage") != "prior":  # on resume the stored standardization stays
                net.latent_mean.copy_(latents.mean(0))
                net.latent_std.copy_(latents.std(0).clamp_min(1e-6))
                # Stage 1's latent head predicts raw latents; re-express it for standardized ones.
                head = net.latent_head
                head.bias.copy_((head.bias - net.latent_mean) / net.latent_std)
                head.weight.copy_(head.weight / net.latent_std[:, None])
        return (latents - net.latent_mean) / net.latent_std

    def _prior_step(self, step: nn.Module, b: _Batch, target: torch.Tensor, optimizer) -> tuple[float, float]:
        """One optimizer step of the prior and the latent head on this rank's share of a batch."""
        net = self.net_
        with torch.no_grad():
            # Training mode of the genome encoder: SNPs and covariates dropped at random.
            for m in (net.snps, net.covariates):
                m.train()
            cond = net.genome_embedding(b.genotypes, b.pcs, b.is_male, b.age, b.bmi)
        loss, mse = step(target, cond)
        optimizer.zero_grad(set_to_none=True)
        (loss + mse).backward()
        optimizer.step()
        return loss.item(), mse.item()

    def _epochs(self, stage: str, n: int) -> int:
        """Epochs of ``stage``: ``epochs`` / ``prior_epochs``, capped so that the stage takes at most
        ``max_steps`` / ``prior_max_steps`` optimizer steps (a large cohort needs fewer passes,
        and the cap keeps a 10,000-person fit within the time budget)."""
        per_epoch = max(1, n // int(self.batch_size))
        if stage == "alignment":
            wanted, cap = int(self.epochs), self.max_steps
        else:
            wanted, cap = int(self.prior_epochs), self.prior_max_steps
        return wanted if cap is None else max(1, min(wanted, -(-int(cap) // per_epoch)))

    def _batches(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(n)
        size = int(self.batch_size)
        return [order[i : i + size] for i in range(0, n - size + 1, size)]  # full batches: CLIP needs negatives

    # ---- checkpoints ----------------------------------------------------------------------------

    def _resume(self, cohort) -> dict:
        """The checkpoint of an interrupted fit on the same data and parameters, loaded into the
        network, or {}."""
        self._fingerprint_ = fit_fingerprint(cohort.hash(), self.get_params())
        state = read_checkpoint(self.checkpoint_dir, self._fingerprint_, self.device, self.name)
        if state:
            self.net_.load_state_dict(state["network"])
            self.history_ = json.loads(state["history"])
        return state

    def _restore(self, state: dict, stage: str, optimizer, rng: np.random.Generator) -> int:
        """First epoch of ``stage`` to run: 0, or where the checkpoint stopped (then the optimizer
        and both random streams continue exactly as they would have)."""
        if not state:
            return 0
        if state["stage"] == stage:
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            rng.bit_generator.state = json.loads(state["numpy_rng"])
            return int(state["epoch"])
        return self._epochs("alignment", self._n_train) if stage == "alignment" else 0  # stage 1 ended before 2 began

    def _checkpoint(self, stage: str, epoch: int, optimizer, rng: np.random.Generator, ranks: Ranks) -> None:
        if not self.checkpoint_dir or not ranks.primary:  # rank 0 writes, for every rank
            return
        state = {
            "fingerprint": self._fingerprint_,
            "stage": stage,
            "epoch": epoch,
            "network": self.net_.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": json.dumps(rng.bit_generator.state),
            "history": json.dumps(self.history_),
        }
        write_checkpoint(self.checkpoint_dir, state)

    # ---- prediction, sampling and matching -------------------------------------------------------

    def _conditions(self, genotypes, covariates: pd.DataFrame | None) -> torch.Tensor:
        """Genome embeddings (n, dim) in eval mode."""
        self._check_fitted()
        genotypes = self.on_panel(genotypes)  # the allele matcher: file alleles as in training
        ids, g_all, variant_ids = genotype_arrays(genotypes)
        g = align_dosages(g_all, variant_ids, self.snps_)
        g = np.where(np.isnan(g), -1, g).astype(np.int64)
        people = self.demographics_.transform(genotypes, covariates)  # a recorded sex replaces the call
        net = self.net_.eval()
        with torch.no_grad():
            return net.genome_embedding(
                torch.from_numpy(g).to(self.device),
                torch.from_numpy(self._standard_pcs(people.pcs)).to(self.device),
                torch.from_numpy(people.male.astype(np.float32)).to(self.device),
                torch.from_numpy(_or_nan(people.age, len(ids))).to(self.device),
                torch.from_numpy(_or_nan(people.bmi, len(ids))).to(self.device),
            )

    def _to_faces(self, z: torch.Tensor) -> np.ndarray:
        net = self.net_
        with torch.no_grad():
            faces = net.decode(z * net.latent_std + net.latent_mean)
        return faces.cpu().numpy().astype(np.float64)

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """The point prediction for the error metrics: by default (``point_estimate="regression"``)
        the decoded least-squares estimate of E[latent | genome]; with "diffusion", the decoded
        deterministic DDIM trajectory from x_T = 0. Why a regression by default: the squared-error
        optimum is the conditional mean, and a diffusion prior fitted on a few hundred people
        concentrates on training latents, so its trajectory lands on a training-like face (on the
        demo cohort: 5.98 mm from the genome alone, worse than the mean face's 5.58 mm)."""
        cond = self._conditions(genotypes, covariates)
        with torch.no_grad():
            if self.point_estimate == "diffusion":
                z = self.net_.prior.point_estimate(cond, n_steps_ddim=int(self.ddim_steps))
            else:
                z = self.net_.latent_head(cond)
        return self._to_faces(z)

    def sample(
        self, genotypes, n: int, seed: int = 0, covariates: pd.DataFrame | None = None, guidance: float | None = None
    ) -> np.ndarray:
        """``n`` plausible faces per person (n_people, n, V, 3): random DDIM draws from the prior."""
        if int(n) < 1:
            raise GenofaceError(f"n must be at least 1, got {n}")
        cond = self._conditions(genotypes, covariates)
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        with torch.no_grad():
            z = self.net_.prior.sample(
                cond.repeat_interleave(int(n), dim=0),
                n_steps_ddim=int(self.ddim_steps),
                guidance=float(self.guidance if guidance is None else guidance),
                generator=generator,
            )
        faces = self._to_faces(z)
        return faces.reshape(cond.shape[0], int(n), *faces.shape[1:])

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Difface's matching: cosine similarity of genome embedding and face latent in the
        contrastive space, times the learnt logit scale."""
        self.check_faces(faces)
        cond = self._conditions(genotypes, covariates)
        net = self.net_
        with torch.no_grad():
            a = F.normalize(cond, dim=1)
            out = np.empty((len(cond), len(faces)))
            for start in range(0, len(faces), 512):
                block = torch.from_numpy(np.asarray(faces[start : start + 512], dtype=np.float32)).to(self.device)
                b = F.normalize(net.face_head(net.face_latent(block)), dim=1)
                out[:, start : start + len(block)] = (net.temperature() * a @ b.T).cpu().numpy()
        return out

    def _standard_pcs(self, pcs: np.ndarray) -> np.ndarray:
        mean, sd = self.pcs_moments_
        return ((pcs - mean) / sd).astype(np.float32)

    # ---- storage ---------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        scalars = {"history": self.history_}
        arrays = with_prefix(self.demographics_.to_arrays(), "demographics")
        arrays.update(snps=self.snps_, snp_chrom=self.snp_chrom_, snp_pos=self.snp_pos_)
        arrays.update(pcs_mean=self.pcs_moments_[0], pcs_sd=self.pcs_moments_[1])
        arrays.update(with_prefix({k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}, "net"))
        return scalars | arrays

    def _from_arrays(self, arrays: dict[str, Any]) -> None:
        self.history_ = arrays["history"]
        self.demographics_ = DemographicFeatures.from_arrays(without_prefix(arrays, "demographics"))
        self.age_moments_, self.bmi_moments_ = self.demographics_.age_moments_, self.demographics_.bmi_moments_
        self.snps_ = arrays["snps"].astype(str)
        self.snp_chrom_, self.snp_pos_ = arrays["snp_chrom"], arrays["snp_pos"]
        self.pcs_moments_ = (arrays["pcs_mean"], arrays["pcs_sd"])
        state = without_prefix(arrays, "net")
        self.net_ = self._build_network(state["autoencoder.template_vertices"], state["autoencoder.template_triangles"])
        try:
            self.net_.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        except RuntimeError as exc:
            raise GenofaceError(
                f"difface weights do not fit the stored configuration ({exc}); retrain the model"
            ) from None
        self.net_.eval()


class _Tensors:
    """The training people as tensors, batched by row indices."""

    def __init__(self, **columns: torch.Tensor) -> None:
        self.columns = columns
        self.n = len(next(iter(columns.values())))

    def batch(self, rows: np.ndarray, device: str) -> _Batch:
        idx = torch.as_tensor(rows)
        return _Batch(**{k: v[idx].to(device) for k, v in self.columns.items()})


class _Batch:
    def __init__(self, **columns: torch.Tensor) -> None:
        self.__dict__.update(columns)


def _alignment_loss(net: DiffaceNetwork, faces, genotypes, pcs, is_male, age, bmi, *, ranks: Ranks, **weights) -> tuple:
    """Stage 1's loss on this rank's share of a batch (the forward pass DDP wraps) and its terms:
    the L1 reconstruction loss, the CLIP loss and the latent regression (0 without
    ``latent_weight``). The CLIP loss and the latent's variance are the whole batch's: they see
    every rank's share (``ranks.gather``), so the loss is one process's."""
    x = faces / net.face_scale
    recon, latent = net.autoencoder(x)
    l1 = (recon - x).abs().mean()
    genome = net.genome_embedding(genotypes, pcs, is_male, age, bmi)
    contrastive = clip_loss(ranks.gather(genome), ranks.gather(net.face_head(latent)), net.temperature())
    loss = weights["recon_weight"] * l1 + contrastive
    regression = torch.zeros(())
    if weights["latent_weight"] > 0:
        # In units of the latent's variance, so the weight does not depend on its scale;
        # the target is detached so this term does not shape the autoencoder.
        target = latent.detach()
        variance = ranks.gather(target).var(0).mean().clamp_min(1e-8)
        regression = F.mse_loss(net.latent_head(genome), target) / variance
        loss = loss + weights["latent_weight"] * regression
    return loss, l1, contrastive, regression


def _prior_pass(net: DiffaceNetwork, target: torch.Tensor, cond: torch.Tensor) -> tuple:
    """Stage 2's forward pass: the diffusion loss and the latent head's squared error."""
    return net.prior.loss(target, cond), F.mse_loss(net.latent_head(cond), target)


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def _given_or(given: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
    """The given values where present, else the fallback (e.g. given sex, else genetic sex)."""
    out = np.asarray(fallback, dtype=np.float32)
    if given is not None:
        out = np.where(np.isnan(given), out, given).astype(np.float32)
    return out


def _or_nan(x: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan, dtype=np.float32) if x is None else np.asarray(x, dtype=np.float32)
