"""Difface latent diffusion prior: schedule, shapes, reproducibility, and samplers checked
against known toy distributions."""

from __future__ import annotations

import math

import pytest
import torch

from genoface.models.difface import Denoiser, LatentDiffusion, cosine_schedule

SEED = 0
TRAIN_STEPS = 2000


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: these models are tiny, and on a shared 2-core machine more threads
    only contend (training ran 20x slower with the default)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small(latent_dim: int = 5, cond_dim: int = 3, **kw) -> LatentDiffusion:
    opts = dict(n_steps=100, hidden=32, n_layers=2, time_dim=16) | kw
    return LatentDiffusion(latent_dim, cond_dim, **opts)


def _train(model: LatentDiffusion, draw, steps: int = TRAIN_STEPS, seed: int = SEED) -> LatentDiffusion:
    """Adam with a cosine learning-rate decay; ``draw(g)`` returns a batch (x0, cond)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        x0, cond = draw(g)
        loss = model.loss(x0, cond, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


# ---- schedule ---------------------------------------------------------------------------------


def test_cosine_schedule():
    betas, ac = cosine_schedule(1000)
    assert betas.shape == ac.shape == (1000,)
    assert (betas > 0).all() and (betas <= 0.999).all()
    assert betas[-1] == pytest.approx(0.999)  # the clipped last step
    assert (ac[1:] < ac[:-1]).all()
    assert ac[0] > 0.9999 and ac[-1] < 1e-6
    # Hand check at t = 499 (u = 0.5), where no beta is clipped so the product telescopes:
    # cos^2((0.5 + s) / (1 + s) * pi / 2) / cos^2(s / (1 + s) * pi / 2) = 0.493844 for s = 0.008.
    assert ac[499].item() == pytest.approx(0.493844, abs=1e-6)
    s = 0.008
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    assert betas[499].item() == pytest.approx(1 - f(0.5) / f(0.499), rel=1e-9)
    with pytest.raises(ValueError, match="n_steps"):
        cosine_schedule(1)


# ---- shapes, gradients, API -------------------------------------------------------------------


def test_shapes_and_every_parameter_gets_a_gradient():
    torch.manual_seed(SEED)
    model = _small(cond_drop=0.5)  # half the batch dropped, so the null condition is used
    x0, cond = torch.randn(64, 5), torch.randn(64, 3)
    loss = model.loss(x0, cond)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.sample(cond[:7], n_steps_ddim=5).shape == (7, 5)
    assert model.sample(cond[:7], n_steps_ddim=5, guidance=2.0, eta=1.0).shape == (7, 5)
    assert model.point_estimate(cond[:7], n_steps_ddim=5).shape == (7, 5)
    assert model.point_estimate(cond[:7], method="mean", n_samples=3, n_steps_ddim=5).shape == (7, 5)
    assert torch.isfinite(_small(weighting="min_snr").loss(x0, cond))


def test_default_denoiser_shape():
    torch.manual_seed(SEED)
    net = Denoiser(128, 128)
    out = net(torch.randn(4, 128), torch.tensor([0, 10, 500, 999]), torch.randn(4, 128))
    assert out.shape == (4, 128)


def test_schedule_is_in_buffers_and_dtype_follows_module():
    model = _small()
    assert {"betas", "alphas_cumprod", "sqrt_alphas_cumprod"} <= set(model.state_dict())
    model = model.double()
    out = model.sample(torch.randn(3, 3), n_steps_ddim=4, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64


def test_bad_input_is_refused():
    model = _small()
    with pytest.raises(ValueError, match="cond must have shape"):
        model.sample(torch.randn(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        model.sample(torch.tensor([[0.0, math.nan, 1.0]]))
    with pytest.raises(ValueError, match="n_steps_ddim"):
        model.sample(torch.randn(4, 3), n_steps_ddim=101)
    with pytest.raises(ValueError, match="same batch size"):
        model.loss(torch.randn(4, 5), torch.randn(3, 3))
    with pytest.raises(ValueError, match="weighting"):
        _small(weighting="snr")
    with pytest.raises(ValueError, match="cond_drop"):
        _small(cond_drop=1.5)
    with pytest.raises(ValueError, match="clip"):
        model.sample(torch.randn(4, 3), clip=(1.0, -1.0))


def test_clip_bounds_the_samples():
    torch.manual_seed(SEED)
    model = _small()
    out = model.sample(torch.randn(50, 3), n_steps_ddim=5, guidance=5.0, clip=0.1)
    assert out.abs().max() <= 0.1


# ---- reproducibility --------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_same_seed_same_samples_different_seed_different(eta: float):
    torch.manual_seed(SEED)
    model = _small()
    cond = torch.randn(6, 3)
    draw = lambda seed: model.sample(cond, n_steps_ddim=8, eta=eta, generator=torch.Generator().manual_seed(seed))
    a, b, c = draw(1), draw(1), draw(2)
    assert torch.equal(a, b)
    assert (a - c).abs().min() > 0


def test_eta_adds_noise_along_the_way():
    torch.manual_seed(SEED)
    model = _small()
    cond = torch.randn(6, 3)
    g = lambda: torch.Generator().manual_seed(3)
    # Same seed, so the same x_T; only eta > 0 draws fresh noise at each step.
    assert not torch.allclose(model.sample(cond, eta=0.0, generator=g()), model.sample(cond, eta=1.0, generator=g()))


def test_state_dict_round_trip_gives_identical_samples():
    torch.manual_seed(SEED)
    model = _small(cond_drop=0.3)
    _train(model, lambda g: (torch.randn(32, 5, generator=g), torch.randn(32, 3, generator=g)), steps=5)
    clone = _small(cond_drop=0.3)
    clone.load_state_dict(model.state_dict())
    cond = torch.randn(9, 3)
    for kw in [dict(), dict(eta=0.5, guidance=2.0)]:
        a = model.sample(cond, generator=torch.Generator().manual_seed(4), **kw)
        b = clone.eval().sample(cond, generator=torch.Generator().manual_seed(4), **kw)
        assert torch.equal(a, b)
    assert torch.equal(model.point_estimate(cond), clone.point_estimate(cond))


# ---- sampler against known toy distributions --------------------------------------------------

MIX_MEANS = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
MIX_WEIGHTS = torch.tensor([0.5, 0.3, 0.2])
MIX_SDS = torch.tensor([0.4, 0.3, 0.5])


def _draw_mixture(g: torch.Generator, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.multinomial(MIX_WEIGHTS, n, replacement=True, generator=g)
    x = MIX_MEANS[k] + MIX_SDS[k, None] * torch.randn(n, 2, generator=g)
    return x, torch.zeros(n, 1)  # unconditional: one constant condition


@pytest.fixture(scope="module")
def mixture_model() -> LatentDiffusion:
    torch.manual_seed(SEED)
    model = LatentDiffusion(2, 1, cond_drop=0.0, hidden=64, n_layers=2, time_dim=32)
    return _train(model, _draw_mixture)


def test_ddim_reproduces_a_gaussian_mixture(mixture_model: LatentDiffusion):
    n = 2000
    x = mixture_model.sample(torch.zeros(n, 1), generator=torch.Generator().manual_seed(SEED + 1))
    mode = torch.cdist(x, MIX_MEANS).argmin(dim=1)
    # Binomial sd of a proportion at n = 2000 is <= 0.011; the rest of the tolerance is model error.
    for j in range(3):
        xj = x[mode == j]
        assert (mode == j).float().mean().item() == pytest.approx(MIX_WEIGHTS[j].item(), abs=0.05)
        assert (xj.mean(0) - MIX_MEANS[j]).abs().max() < 0.15
        # Per-coordinate sd within 25 % (the nearest-mean split truncates tails slightly).
        assert ((xj.std(0) / MIX_SDS[j]) - 1).abs().max() < 0.25


COND_SD = 0.3
TEST_CONDS = torch.tensor([[-1.0, -1.0], [-1, 1], [1, -1], [1, 1], [0, 0], [0.5, -0.5], [-0.5, 0.0], [0.0, 0.8]])


def _f(c: torch.Tensor) -> torch.Tensor:
    """A smooth nonlinear map from the 2-d condition to the 2-d latent mean."""
    return torch.stack([torch.sin(1.5 * c[:, 0]) + 0.5 * c[:, 1], 0.5 * c[:, 0] * c[:, 1] + 0.3 * c[:, 1]], dim=1)


def _draw_conditional(g: torch.Generator, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    c = torch.randn(n, 2, generator=g)
    return _f(c) + COND_SD * torch.randn(n, 2, generator=g), c


@pytest.fixture(scope="module")
def conditional_model() -> LatentDiffusion:
    torch.manual_seed(SEED)
    model = LatentDiffusion(2, 2, cond_drop=0.2, hidden=64, n_layers=2, time_dim=32)
    return _train(model, _draw_conditional)


def _samples_per_cond(model: LatentDiffusion, guidance: float, n: int = 500) -> torch.Tensor:
    cond = TEST_CONDS.repeat_interleave(n, dim=0)
    x = model.sample(cond, guidance=guidance, generator=torch.Generator().manual_seed(SEED + 1))
    return x.view(len(TEST_CONDS), n, 2)


def test_conditional_samples_track_the_condition(conditional_model: LatentDiffusion):
    x = _samples_per_cond(conditional_model, guidance=1.0)
    # The standard error of a mean of 500 draws is 0.013; the rest is model error.
    assert (x.mean(1) - _f(TEST_CONDS)).norm(dim=1).max() < 0.25
    # A small, briefly trained denoiser under-disperses a little under DDIM (sd ~0.2-0.3 seen).
    sd = x.std(1)
    assert (sd > 0.5 * COND_SD).all() and (sd < 1.3 * COND_SD).all()
    assert 0.65 * COND_SD < sd.mean() < 1.15 * COND_SD


def test_guidance_moves_samples_towards_the_conditional_mode(conditional_model: LatentDiffusion):
    x0, x1, x3 = (_samples_per_cond(conditional_model, g) for g in (0.0, 1.0, 3.0))
    # guidance = 0 is the unconditional model: its mean ignores the condition.
    assert (x0.mean(1) - x0.mean((0, 1))).norm(dim=1).max() < 0.3
    # guidance > 1 sharpens towards p(x | c)^g p(x)^(1 - g): the spread around the conditional
    # mode shrinks. (The mode itself also shifts a little away from the unconditional mass, as
    # that density predicts, so the guided mean is only checked to stay near f(c).)
    assert (x3.std(1) < 0.7 * x1.std(1)).all()
    assert (x3.mean(1) - _f(TEST_CONDS)).norm(dim=1).max() < 0.8


def test_point_estimate_ode_zero_beats_the_mean_of_samples(conditional_model: LatentDiffusion):
    cond = torch.randn(200, 2, generator=torch.Generator().manual_seed(SEED + 2))
    truth = _f(cond)  # the conditional mean, the squared-error optimum
    g = torch.Generator().manual_seed(SEED + 3)
    err_zero = (conditional_model.point_estimate(cond) - truth).pow(2).sum(1).mean()
    err_mean = conditional_model.point_estimate(cond, method="mean", n_samples=16, generator=g) - truth
    err_mean = err_mean.pow(2).sum(1).mean()
    assert err_zero < 0.03
    assert err_zero < err_mean
