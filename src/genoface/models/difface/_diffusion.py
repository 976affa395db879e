"""Latent diffusion prior of Difface: a DDPM over a face latent, conditioned on a SNP embedding.

Generic over the latent and condition dimensions (Difface: 128 and 128). The caller standardizes
the latents (zero mean, unit variance per coordinate) before ``loss`` and un-standardizes what
``sample`` / ``point_estimate`` return; nothing here knows about meshes or genotypes.

As published: 1,000 steps, cosine noise schedule (Nichol & Dhariwal 2021), the network predicts
x0, classifier-free guidance by condition dropout. Choices of ours, with reasons:

* **Denoiser.** A residual MLP with FiLM conditioning (see :class:`Denoiser`), not a reproduction
  of the published denoiser network: the inputs are three vectors (x_t, t, condition), so there
  is no sequence for attention to work on, and an MLP is cheap on CPU.
* **Loss.** Plain x0 MSE, uniform over t (``weighting="uniform"``); ``"min_snr"`` is offered.
* **Sampler.** DDIM (Song et al. 2021) on an evenly spaced subset of the 1,000 steps, guidance on
  the x0 prediction, optional clamping of the x0 prediction to a caller-given range.
* **Point estimate.** The deterministic DDIM trajectory from x_T = 0 (see
  :meth:`LatentDiffusion.point_estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Denoiser", "LatentDiffusion", "cosine_schedule"]

_WEIGHTINGS = ("uniform", "min_snr")
_POINT_METHODS = ("ode_zero", "mean")


def cosine_schedule(n_steps: int = 1000, s: float = 0.008) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine noise schedule of Nichol & Dhariwal (2021), in float64.

    ``alpha_bar(u) = cos((u + s) / (1 + s) * pi / 2)^2 / (same at u = 0)``; step ``t`` (0-based)
    goes from ``u = t / n`` to ``u = (t + 1) / n`` with ``beta_t = 1 - alpha_bar((t+1)/n) /
    alpha_bar(t/n)``, clipped at 0.999 so the last step is not singular.

    Returns
    -------
    betas, alphas_cumprod : (n_steps,) tensors
        ``alphas_cumprod = cumprod(1 - betas)`` of the clipped betas, so it decreases from about
        1 (t = 0) to about 0 (t = n_steps - 1).
    """
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}.")
    if not s > 0:
        raise ValueError(f"s must be positive, got {s}.")
    u = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    return betas, alphas_cumprod


def _timestep_embedding(
    t: torch.Tensor, dim: int, dtype: torch.dtype = torch.float32, max_period: float = 10_000.0
) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of integer timesteps ``t`` (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=dtype) / half)
    args = t.to(dtype)[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:  # odd dim: pad one zero column
        emb = F.pad(emb, (0, 1))
    return emb


class _FiLMBlock(nn.Module):
    """Pre-norm residual block ``h + W2 SiLU(W1 FiLM(LN(h), e))``; FiLM: ``x (1 + scale) + shift``."""

    def __init__(self, hidden: int, emb_dim: int) -> None:
        super().__init__()
        # No affine in the LayerNorm: FiLM's scale and shift play that role, per sample.
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.film = nn.Linear(emb_dim, 2 * hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).chunk(2, dim=-1)
        z = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(F.silu(self.fc1(z)))


class Denoiser(nn.Module):
    """Residual MLP predicting x0 from (x_t, t, condition).

    Parameters
    ----------
    latent_dim : int
        Size of x (>= 1).
    cond_dim : int
        Size of the condition vector (>= 1).
    hidden : int, default 512
        Width of the residual stream and of the embeddings.
    n_layers : int, default 4
        Number of residual blocks.
    time_dim : int, default 128
        Size of the sinusoidal timestep embedding before its MLP.

    Conditioning is by FiLM, not concatenation: the timestep and the condition are embedded,
    summed, and every block rescales and shifts its normalized input by a linear map of that sum.
    The timestep has to act on every layer anyway (what to do with x_t depends on the noise
    level), and a weak condition — a SNP embedding explains little of a face — injected at every
    block does not have to survive the residual stack from the input layer, as it would with
    concatenation. A dropped condition (classifier-free guidance) is replaced by a learned
    null vector ``null_cond`` in condition space before embedding, and a 0/1 "dropped" flag is
    appended to the condition so that no real condition can be mistaken for the null one.
    """

    def __init__(self, latent_dim: int, cond_dim: int, hidden: int = 512, n_layers: int = 4, time_dim: int = 128):
        super().__init__()
        for name, value, low in [
            ("latent_dim", latent_dim, 1),
            ("cond_dim", cond_dim, 1),
            ("hidden", hidden, 1),
            ("n_layers", n_layers, 1),
            ("time_dim", time_dim, 2),
        ]:
            if not (isinstance(value, int) and value >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        self.latent_dim = latent_dim
        self.cond_dim = cond_dim
        self.hidden = hidden
        self.n_layers = n_layers
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.cond_mlp = nn.Sequential(nn.Linear(cond_dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.null_cond = nn.Parameter(torch.zeros(cond_dim))
        self.inp = nn.Linear(latent_dim, hidden)
        self.blocks = nn.ModuleList(_FiLMBlock(hidden, hidden) for _ in range(n_layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, latent_dim)

    def extra_repr(self) -> str:
        return (
            f"latent_dim={self.latent_dim}, cond_dim={self.cond_dim}, hidden={self.hidden}, "
            f"n_layers={self.n_layers}, time_dim={self.time_dim}"
        )

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x0 prediction (B, latent_dim) from x_t (B, latent_dim), integer t (B,), cond (B, cond_dim);
        ``drop`` (B,) bool replaces those rows of ``cond`` by the null condition."""
        if drop is not None:
            cond = torch.where(drop[:, None], self.null_cond.to(cond.dtype).expand_as(cond), cond)
        # The drop flag is an input too: with the null vector alone, a real condition equal to it
        # (at initialization, cond = 0) could not be told from "no condition".
        flag = torch.zeros(cond.shape[0], 1, dtype=cond.dtype, device=cond.device) if drop is None else drop[:, None]
        cond_in = torch.cat([cond, flag.to(cond.dtype)], dim=1)
        emb = F.silu(self.time_mlp(_timestep_embedding(t, self.time_dim, x_t.dtype)) + self.cond_mlp(cond_in))
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(self.out_norm(h))


class LatentDiffusion(nn.Module):
    """DDPM prior over a latent vector, conditioned on a vector; x0 parameterization.

    Parameters
    ----------
    latent_dim, cond_dim : int
        Sizes of the latent and of the condition (>= 1).
    n_steps : int, default 1000
        Diffusion steps of the cosine schedule (>= 2).
    cond_drop : float, default 0.1
        Probability, per training example, that the condition is replaced by the null condition,
        so one network also learns the unconditional model for classifier-free guidance. In [0, 1].
    hidden, n_layers, time_dim : int
        Passed to :class:`Denoiser`.
    weighting : {"uniform", "min_snr"}, default "uniform"
        Per-t weight of the x0 MSE. ``"uniform"`` weighs all t alike (in epsilon terms that is a
        weight SNR(t), which favours the low-noise steps where x0 is easy; it is also exactly the
        loss whose optimum at high noise is E[x0 | cond], which the point estimate relies on).
        ``"min_snr"`` uses ``min(SNR(t), min_snr_gamma)`` (Hang et al. 2023), which stops the
        near-clean steps from dominating but gives the high-noise steps almost no weight.
    min_snr_gamma : float, default 5.0
        The clip of ``"min_snr"``; ignored otherwise.

    The schedule is held in buffers (``betas``, ``alphas_cumprod`` and their square roots), so
    ``.to(device)`` moves it and ``state_dict`` saves it.
    """

    def __init__(
        self,
        latent_dim: int,
        cond_dim: int,
        n_steps: int = 1000,
        cond_drop: float = 0.1,
        hidden: int = 512,
        n_layers: int = 4,
        time_dim: int = 128,
        weighting: str = "uniform",
        min_snr_gamma: float = 5.0,
    ):
        super().__init__()
        if not (isinstance(n_steps, int) and n_steps >= 2):
            raise ValueError(f"n_steps must be an integer >= 2, got {n_steps!r}.")
        if not 0.0 <= cond_drop <= 1.0:
            raise ValueError(f"cond_drop must be in [0, 1], got {cond_drop}.")
        if weighting not in _WEIGHTINGS:
            raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}.")
        if not min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma must be positive, got {min_snr_gamma}.")
        self.latent_dim = latent_dim
        self.cond_dim = cond_dim
        self.n_steps = n_steps
        self.cond_drop = cond_drop
        self.weighting = weighting
        self.min_snr_gamma = min_snr_gamma
        self.denoiser = Denoiser(latent_dim, cond_dim, hidden=hidden, n_layers=n_layers, time_dim=time_dim)
        betas, ac = cosine_schedule(n_steps)
        # Square roots taken in float64: 1 - alphas_cumprod near t = 0 is ~1e-5, too close to 1
        # for float32 to resolve well.
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas_cumprod", ac.float())
        self.register_buffer("sqrt_alphas_cumprod", ac.sqrt().float())
        self.register_buffer("sqrt_one_minus_alphas_cumprod", (1 - ac).sqrt().float())

    def extra_repr(self) -> str:
        return f"n_steps={self.n_steps}, cond_drop={self.cond_drop}, weighting={self.weighting!r}"

    # ---- input checks --------------------------------------------------------------------------

    def _check_cond(self, cond: torch.Tensor) -> None:
        if cond.ndim != 2 or cond.shape[1] != self.cond_dim:
            raise ValueError(f"cond must have shape (batch, {self.cond_dim}), got {tuple(cond.shape)}.")
        if cond.shape[0] == 0:
            raise ValueError("cond is empty (batch size 0); pass at least one condition.")
        if not torch.isfinite(cond).all():
            raise ValueError("cond contains NaN or infinite values; impute or drop those rows first.")

    def _randn(self, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
        # Noise is drawn on the generator's device and then moved: a CPU generator then gives the
        # same samples whatever device the module is on.
        device, dtype = self.betas.device, self.betas.dtype
        if generator is None:
            return torch.randn(*shape, device=device, dtype=dtype)
        return torch.randn(*shape, generator=generator, device=generator.device, dtype=dtype).to(device)

    # ---- training ------------------------------------------------------------------------------

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward process: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``."""
        return self.sqrt_alphas_cumprod[t, None] * x0 + self.sqrt_one_minus_alphas_cumprod[t, None] * noise

    def loss(self, x0: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training loss (scalar): weighted MSE of the x0 prediction at a uniformly drawn t.

        ``x0`` (B, latent_dim) are standardized latents, ``cond`` (B, cond_dim) their conditions;
        each condition is dropped (replaced by the null condition) with probability ``cond_drop``.
        """
        if x0.ndim != 2 or x0.shape[1] != self.latent_dim:
            raise ValueError(f"x0 must have shape (batch, {self.latent_dim}), got {tuple(x0.shape)}.")
        self._check_cond(cond)
        if cond.shape[0] != x0.shape[0]:
            raise ValueError(f"x0 and cond must have the same batch size, got {x0.shape[0]} and {cond.shape[0]}.")
        b = x0.shape[0]
        device = self.betas.device
        if generator is None:
            t = torch.randint(0, self.n_steps, (b,), device=device)
            u = torch.rand(b, device=device)
        else:
            t = torch.randint(0, self.n_steps, (b,), generator=generator, device=generator.device).to(device)
            u = torch.rand(b, generator=generator, device=generator.device).to(device)
        noise = self._randn(x0.shape, generator)
        drop = u < self.cond_drop
        pred = self.denoiser(self.q_sample(x0, t, noise), t, cond, drop)
        per_example = (pred - x0).pow(2).mean(dim=1)
        if self.weighting == "min_snr":
            snr = self.alphas_cumprod[t] / (1 - self.alphas_cumprod[t])
            per_example = per_example * snr.clamp(max=self.min_snr_gamma)
        return per_example.mean()

    # ---- sampling ------------------------------------------------------------------------------

    def _predict_x0(
        self, x_t: torch.Tensor, t: int, cond: torch.Tensor, guidance: float, clip: tuple[float, float] | None
    ) -> torch.Tensor:
        """Guided x0 prediction ``x0_u + guidance (x0_c - x0_u)`` at integer step ``t``."""
        b = x_t.shape[0]
        if guidance == 1.0:  # plain conditional: skip the unconditional pass
            tt = torch.full((b,), t, device=x_t.device, dtype=torch.long)
            x0 = self.denoiser(x_t, tt, cond)
        else:
            # Conditional and unconditional passes as one batch of 2B.
            tt = torch.full((2 * b,), t, device=x_t.device, dtype=torch.long)
            drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(x_t.device)
            x0_c, x0_u = self.denoiser(torch.cat([x_t, x_t]), tt, torch.cat([cond, cond]), drop).chunk(2)
            x0 = x0_u + guidance * (x0_c - x0_u)
        if clip is not None:
            x0 = x0.clamp(clip[0], clip[1])
        return x0

    def _ddim(
        self,
        x_t: torch.Tensor,
        cond: torch.Tensor,
        n_steps_ddim: int,
        eta: float,
        guidance: float,
        clip: float | tuple[float, float] | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """DDIM from ``x_t`` at the last step down to x0."""
        if not (isinstance(n_steps_ddim, int) and 1 <= n_steps_ddim <= self.n_steps):
            raise ValueError(f"n_steps_ddim must be an integer in [1, {self.n_steps}], got {n_steps_ddim!r}.")
        if not eta >= 0:
            raise ValueError(f"eta must be >= 0, got {eta}.")
        if not math.isfinite(guidance):
            raise ValueError(f"guidance must be finite, got {guidance}.")
        if clip is not None:
            clip = (-float(clip), float(clip)) if isinstance(clip, int | float) else (float(clip[0]), float(clip[1]))
            if not clip[0] < clip[1]:
                raise ValueError(f"clip must be a positive number or a (low, high) pair with low < high, got {clip}.")
        # Evenly spaced steps from the last (x_T, almost pure noise) to 0, visited in decreasing order.
        steps = torch.linspace(self.n_steps - 1, 0, n_steps_ddim).round().long().tolist()
        ac = self.alphas_cumprod
        for i, t in enumerate(steps):
            x0 = self._predict_x0(x_t, t, cond, guidance, clip)
            if i == len(steps) - 1:
                return x0  # alpha_bar_prev = 1: the next state is the x0 prediction itself
            t_prev = steps[i + 1]
            # The noise implied by the x0 prediction (x0 parameterization -> epsilon).
            eps = (x_t - self.sqrt_alphas_cumprod[t] * x0) / self.sqrt_one_minus_alphas_cumprod[t]
            if eta > 0:
                sigma = eta * torch.sqrt((1 - ac[t_prev]) / (1 - ac[t]) * (1 - ac[t] / ac[t_prev]))
                dir_coef = (1 - ac[t_prev] - sigma**2).clamp(min=0).sqrt()
                x_t = self.sqrt_alphas_cumprod[t_prev] * x0 + dir_coef * eps + sigma * self._randn(x_t.shape, generator)
            else:
                x_t = self.sqrt_alphas_cumprod[t_prev] * x0 + self.sqrt_one_minus_alphas_cumprod[t_prev] * eps
        raise AssertionError("unreachable")

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        n_steps_ddim: int = 50,
        eta: float = 0.0,
        guidance: float = 1.0,
        generator: torch.Generator | None = None,
        clip: float | tuple[float, float] | None = None,
    ) -> torch.Tensor:
        """Draw one latent per condition by DDIM; returns x0 (B, latent_dim) in standardized units.

        Parameters
        ----------
        cond : (B, cond_dim) tensor
            Conditions (moved to the module's device).
        n_steps_ddim : int, default 50
            Denoiser evaluations (twice as many rows if ``guidance != 1``), evenly spaced over the
            schedule, from the last step to step 0.
        eta : float, default 0.0
            DDIM stochasticity: 0 is the deterministic sampler (all randomness in x_T), 1 is
            DDPM-like ancestral sampling.
        guidance : float, default 1.0
            Classifier-free guidance on the x0 prediction, ``x0_u + guidance (x0_c - x0_u)``:
            1 is the plain conditional model, 0 the unconditional one, > 1 sharpens towards the
            condition (and costs a second, unconditional pass per step).
        generator : torch.Generator, optional
            Source of all noise (x_T and, for ``eta > 0``, each step's); the same seed gives the
            same samples on any device. Without it the global RNG of the module's device is used.
        clip : float or (low, high), optional
            Clamp every x0 prediction to ``[-clip, clip]`` or ``[low, high]``. Default none: the
            latents are standardized by the caller, so a wide bound such as 5 only guards against
            divergence under strong guidance; a tight one would distort the tails.
        """
        self._check_cond(cond)
        cond = cond.to(self.betas.device, self.betas.dtype)
        x_t = self._randn((cond.shape[0], self.latent_dim), generator)
        return self._ddim(x_t, cond, n_steps_ddim, eta, guidance, clip, generator)

    @torch.no_grad()
    def point_estimate(
        self,
        cond: torch.Tensor,
        method: str = "ode_zero",
        n_samples: int = 16,
        n_steps_ddim: int = 50,
        guidance: float = 1.0,
        generator: torch.Generator | None = None,
        clip: float | tuple[float, float] | None = None,
    ) -> torch.Tensor:
        """A single predicted latent per condition (B, latent_dim), for squared-error metrics.

        ``method="ode_zero"`` (default) runs the deterministic DDIM (eta = 0) from x_T = 0, the
        mode and mean of the prior noise. Deterministic DDIM is a discretized probability-flow
        ODE, a transport map from noise to latents; if the conditional distribution is Gaussian
        the map is affine and sends 0 to its mean exactly, and near-Gaussian distributions (a
        face given a genome is mostly the population spread) come close. One trajectory costs
        ``n_steps_ddim`` evaluations and has no Monte Carlo error.

        ``method="mean"`` averages ``n_samples`` DDIM samples (eta = 0, seeded by ``generator``):
        unbiased for any shape of distribution, but its Monte Carlo variance (the conditional
        variance / ``n_samples``) is added to the squared error and it costs ``n_samples`` times
        more. On the conditional toy of the tests (Gaussian noise of sd 0.3 around f(cond)) its
        squared error to f(cond) at ``n_samples = 16`` was about twice that of ``"ode_zero"``
        (0.0095 against 0.0043), the difference being the Monte Carlo term 2 * 0.3**2 / 16.

        Keep ``guidance = 1``: guidance > 1 pushes away from the unconditional model and biases
        the estimate of the conditional mean.
        """
        if method not in _POINT_METHODS:
            raise ValueError(f"method must be one of {_POINT_METHODS}, got {method!r}.")
        self._check_cond(cond)
        cond = cond.to(self.betas.device, self.betas.dtype)
        b = cond.shape[0]
        if method == "ode_zero":
            x_t = torch.zeros(b, self.latent_dim, device=cond.device, dtype=cond.dtype)
            return self._ddim(x_t, cond, n_steps_ddim, 0.0, guidance, clip, None)
        if not (isinstance(n_samples, int) and n_samples >= 1):
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")
        reps = cond.repeat(n_samples, 1)  # (n_samples * B, cond_dim), sample-major
        x = self.sample(reps, n_steps_ddim=n_steps_ddim, eta=0.0, guidance=guidance, generator=generator, clip=clip)
        return x.view(n_samples, b, self.latent_dim).mean(dim=0)
