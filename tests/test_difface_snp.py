"""Difface's SNP transformer, covariate encoder and CLIP loss (genoface.models.difface._snp_encoder)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from genoface.core.errors import GenofaceError
from genoface.models.difface import (
    CovariateEncoder,
    LearnableTemperature,
    SNPTransformer,
    chromosome_codes,
    clip_loss,
    sinusoidal_position_encoding,
)

N_SNPS = 50
CHROM = np.repeat([0, 1, 22], [20, 20, 10])  # chromosomes 1, 2 and X
POS = np.concatenate([np.arange(20) * 5000 + 100, np.arange(20) * 7000 + 300, np.arange(10) * 9000 + 50])


def make_model(seed: int = 0, **kw) -> SNPTransformer:
    torch.manual_seed(seed)
    args = {"dim": 32, "depth": 2, "heads": 4, "dropout": 0.0, "snp_drop": 0.2} | kw
    return SNPTransformer(N_SNPS, CHROM, POS, **args)


def random_genotypes(n: int, seed: int, missing: float = 0.05) -> torch.Tensor:
    """(n, N_SNPS) int8 genotypes, binomial(2, p) per SNP, with a share of -1."""
    rng = np.random.default_rng(seed)
    p = np.random.default_rng(123).uniform(0.2, 0.8, N_SNPS)  # allele frequencies shared by all draws
    g = rng.binomial(2, p, size=(n, N_SNPS)).astype(np.int8)
    g[rng.random(g.shape) < missing] = -1
    return torch.from_numpy(g)


# ---- SNPTransformer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens, n_tokens", [(None, 50), (8, 8), (16, 13)])
def test_shapes_and_tokens(max_tokens, n_tokens):
    model = make_model(max_tokens=max_tokens).eval()
    assert model.n_tokens == n_tokens
    out = model(random_genotypes(5, 0))
    assert out.shape == (5, 32) and torch.isfinite(out).all()
    assert model(random_genotypes(5, 0).long()).shape == (5, 32)  # int64 input too


def test_patches_follow_chromosome_and_position_order():
    chrom, pos = np.array([1, 0, 0, 1, 0]), np.array([10, 30, 20, 5, 10])
    model = SNPTransformer(5, chrom, pos, dim=8, heads=2, max_tokens=3)  # patches of 2 SNPs
    assert model.patch_index.tolist() == [[4, 2], [1, 3], [0, 5]]  # 5 = padding


@pytest.mark.parametrize("max_tokens", [None, 8])
def test_gradients_reach_every_parameter(max_tokens):
    model = make_model(max_tokens=max_tokens, dropout=0.1).train()
    model(random_genotypes(64, 1, missing=0.1)).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("max_tokens", [None, 8])
def test_missing_genotypes_use_the_missing_token(max_tokens):
    model = make_model(max_tokens=max_tokens).eval()
    with torch.no_grad():
        out = model(torch.full((4, N_SNPS), -1, dtype=torch.int8))
        zeros = model(torch.zeros((1, N_SNPS), dtype=torch.int8))
    torch.testing.assert_close(out, out[:1].expand(4, -1))
    assert not torch.allclose(out[0], zeros[0], atol=1e-4)


def test_eval_is_deterministic_and_training_drops_snps():
    model = make_model(snp_drop=0.3)
    g = random_genotypes(16, 2)
    with torch.no_grad():
        model.eval()
        ref = model(g)
        torch.testing.assert_close(model(g), ref, rtol=0, atol=0)
        model.train()  # dropout=0, so SNP drop is the only source of randomness
        torch.manual_seed(1)
        a = model(g)
        torch.manual_seed(2)
        b = model(g)
        torch.manual_seed(1)
        a_again = model(g)
    assert not torch.allclose(a, b, atol=1e-4) and not torch.allclose(a, ref, atol=1e-4)
    torch.testing.assert_close(a, a_again)
    no_drop = make_model(snp_drop=0.0).train()
    with torch.no_grad():
        torch.testing.assert_close(no_drop(g), make_model(snp_drop=0.0).eval()(g))


@pytest.mark.parametrize("max_tokens", [None, 8])
def test_snp_identity_matters(max_tokens):
    model = make_model(max_tokens=max_tokens).eval()
    g = random_genotypes(8, 3, missing=0.0)
    g[:, 0], g[:, 1] = 0, 2  # SNPs 0 and 1 are in the same patch
    swapped = g[:, [1, 0, *range(2, N_SNPS)]]
    with torch.no_grad():
        assert (model(g) - model(swapped)).abs().max() > 1e-4


def test_position_encoding_differs_by_position():
    enc = sinusoidal_position_encoding(torch.tensor([100, 1_100, 50_000, 100, 150_000_000]), 32)
    assert enc.shape == (5, 32)
    torch.testing.assert_close(enc[0], enc[3])
    for i in range(5):
        for j in (0, 1, 2, 4):
            if i != j and {i, j} != {0, 3}:
                assert (enc[i] - enc[j]).abs().max() > 1e-3, (i, j)
    g = random_genotypes(4, 4)
    with torch.no_grad():
        a = make_model(seed=5).eval()(g)
        torch.manual_seed(5)
        moved = SNPTransformer(N_SNPS, CHROM, POS + 2_000, dim=32, heads=4, dropout=0.0).eval()(g)
    assert (a - moved).abs().max() > 1e-4


def test_chromosome_codes():
    assert chromosome_codes(["1", "chr22", "X", "MT"]).tolist() == [0, 21, 22, 25]
    with pytest.raises(GenofaceError, match="unknown chromosome"):
        chromosome_codes(["1", "chrUn"])


def test_invalid_input_and_parameters_are_refused():
    model = make_model()
    with pytest.raises(GenofaceError, match="shape"):
        model(torch.zeros((2, N_SNPS + 1), dtype=torch.int8))
    with pytest.raises(GenofaceError, match="-1"):
        model(torch.full((2, N_SNPS), 3, dtype=torch.int8))
    with pytest.raises(GenofaceError, match="integer genotypes"):
        model(torch.zeros((2, N_SNPS)))
    with pytest.raises(GenofaceError, match="heads"):
        SNPTransformer(N_SNPS, CHROM, POS, dim=30, heads=4)
    with pytest.raises(GenofaceError, match="snp_drop"):
        SNPTransformer(N_SNPS, CHROM, POS, snp_drop=1.0)
    with pytest.raises(GenofaceError, match="positions"):
        SNPTransformer(N_SNPS, CHROM, POS[:-1])


# ---- learning ----------------------------------------------------------------------------------------


def _target(g: torch.Tensor) -> torch.Tensor:
    """Depends on SNPs 3 and 17 only: an additive effect and a recessive one."""
    return (g[:, 3].float() - 1.0) + 1.5 * (g[:, 17] == 2).float()


def _r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float(1 - ((pred - y) ** 2).mean() / y.var(unbiased=False))


def _fit(
    snp_drop: float, train_g: torch.Tensor, steps: int = 300, max_tokens: int | None = 10
) -> Callable[[torch.Tensor], torch.Tensor]:
    """An SNP encoder (10 patch tokens) + linear head trained on :func:`_target`; its predictor."""
    model = make_model(seed=7, snp_drop=snp_drop, max_tokens=max_tokens)
    net = torch.nn.Sequential(model, torch.nn.Linear(32, 1))
    y = _target(train_g)
    mean, sd = y.mean(), y.std()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(train_g), (64,), generator=gen)
        loss = ((net(train_g[idx]).squeeze(1) - (y[idx] - mean) / sd) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return lambda g: net(g).squeeze(1).detach() * sd + mean


def test_learns_two_snp_target_and_degrades_gracefully_with_missing_snps():
    train_g, test_g = random_genotypes(1000, 10, missing=0.0), random_genotypes(500, 11, missing=0.0)
    y_test = _target(test_g)
    masked = test_g.clone()
    masked[torch.from_numpy(np.random.default_rng(12).random(masked.shape) < 0.3)] = -1
    # The best possible prediction under this masking: E[y | observed genotypes], with the
    # training means standing in for a missing SNP's term (about 70% of the variance).
    add, rec = (train_g[:, 3].float() - 1).mean(), (train_g[:, 17] == 2).float().mean()
    oracle = torch.where(masked[:, 3] < 0, add, masked[:, 3].float() - 1) + 1.5 * torch.where(
        masked[:, 17] < 0, rec, (masked[:, 17] == 2).float()
    )

    predict = _fit(0.3, train_g)
    with torch.no_grad():
        r2_full, r2_masked = _r2(predict(test_g), y_test), _r2(predict(masked), y_test)
    r2_oracle = _r2(oracle, y_test)
    assert r2_full > 0.8
    assert r2_masked > 0.5 and r2_masked > r2_oracle - 0.15, (r2_masked, r2_oracle)


# ---- covariates --------------------------------------------------------------------------------------


def make_cov(seed: int = 0, **kw) -> CovariateEncoder:
    torch.manual_seed(seed)
    return CovariateEncoder(dim=16, age_moments=(40.0, 12.0), bmi_moments=(25.0, 4.0), **kw)


def test_covariate_flags_change_the_output():
    enc = make_cov().eval()
    nan = float("nan")
    age = torch.tensor([30.0, nan, 30.0, 30.0])
    male = torch.tensor([1.0, 1.0, nan, 0.0])
    bmi = torch.tensor([nan, nan, nan, 22.0])
    with torch.no_grad():
        out = enc(age, male, bmi)
        null = enc(batch_size=4)
        all_missing = enc(torch.full((4,), nan), torch.full((4,), nan), torch.full((4,), nan))
        only_age = enc(age=age)
    assert out.shape == (4, 16)
    torch.testing.assert_close(null, enc.null.expand(4, -1))
    torch.testing.assert_close(all_missing, null)
    torch.testing.assert_close(only_age[1], null[1])  # age missing and nothing else given
    for i in range(4):
        assert (out[i] - null[i]).abs().max() > 1e-4
    for i, j in [(0, 1), (0, 2), (0, 3)]:
        assert (out[i] - out[j]).abs().max() > 1e-4, (i, j)


def test_covariates_are_standardized_by_stored_moments():
    enc = make_cov().eval()
    other = CovariateEncoder(dim=16).eval()  # moments (0, 1)
    other.load_state_dict({k: v for k, v in enc.state_dict().items() if "moments" not in k}, strict=False)
    with torch.no_grad():
        torch.testing.assert_close(
            enc(torch.tensor([52.0]), torch.tensor([1.0]), torch.tensor([21.0])),
            other(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([-1.0])),
        )


def test_covariate_drop_in_training():
    enc = make_cov(cov_drop=1.0).train()
    x = torch.tensor([30.0, 50.0])
    torch.testing.assert_close(enc(x, torch.tensor([1.0, 0.0]), x), enc.null.expand(2, -1))
    enc = make_cov(cov_drop=0.5).train()
    torch.manual_seed(0)
    flags = enc.features(torch.full((4000,), 30.0), torch.ones(4000), torch.full((4000,), 20.0))[:, 3:]
    assert abs(float((flags.sum(1) == 0).float().mean()) - (0.5 + 0.5 * 0.125)) < 0.03
    enc.eval()
    assert enc.features(torch.full((5,), 30.0), torch.ones(5), torch.full((5,), 20.0))[:, 3:].eq(1).all()
    with pytest.raises(GenofaceError, match="batch_size"):
        enc()


# ---- CLIP loss and temperature -----------------------------------------------------------------------


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_clip_loss_matches_hand_computation():
    a = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 1.0]])
    b = np.array([[2.0, 0.5], [0.0, 1.0], [-0.3, 0.4]])
    scale = 3.0
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = scale * an @ bn.T
    expected = -0.5 * (np.diag(_log_softmax(logits)).mean() + np.diag(_log_softmax(logits.T)).mean())
    got = clip_loss(torch.tensor(a), torch.tensor(b), scale)
    assert math.isclose(float(got), expected, rel_tol=1e-9)
    assert float(clip_loss(torch.tensor(b), torch.tensor(a), scale)) == pytest.approx(expected)  # symmetric


def test_clip_loss_near_zero_for_aligned_embeddings():
    e = torch.eye(4) * 5.0
    assert float(clip_loss(e, e, 100.0)) < 1e-6
    assert float(clip_loss(e, e.flip(0), 100.0)) > 10.0


def test_learnable_temperature_initialisation_and_clamp():
    temp = LearnableTemperature()
    assert float(temp().detach()) == pytest.approx(1 / 0.07)
    with torch.no_grad():
        temp.log_scale.fill_(math.log(1000.0))
    assert float(temp().detach()) == pytest.approx(100.0)
    with torch.no_grad():
        temp.log_scale.fill_(-3.0)
    assert float(temp().detach()) == pytest.approx(1.0)
    temp.log_scale.data.fill_(1.0)
    e = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    clip_loss(e, e + 0.1, temp()).backward()
    assert temp.log_scale.grad is not None and temp.log_scale.grad != 0


# ---- persistence -------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens", [None, 8])
def test_state_dict_round_trip(max_tokens):
    model = make_model(seed=0, max_tokens=max_tokens).eval()
    copy = make_model(seed=99, max_tokens=max_tokens).eval()
    copy.load_state_dict(model.state_dict())
    assert {"chrom_codes", "positions", "patch_index"} <= set(model.state_dict())
    g = random_genotypes(6, 5)
    with torch.no_grad():
        torch.testing.assert_close(copy(g), model(g), rtol=0, atol=0)
    enc, enc_copy = make_cov(seed=0).eval(), CovariateEncoder(dim=16).eval()
    enc_copy.load_state_dict(enc.state_dict())
    age = torch.tensor([25.0, float("nan")])
    with torch.no_grad():
        torch.testing.assert_close(enc_copy(age, torch.tensor([0.0, 1.0])), enc(age, torch.tensor([0.0, 1.0])))
