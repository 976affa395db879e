"""Difface's SpiralNet++ mesh autoencoder: operators by hand, shapes, buffers, overfitting, reload."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from genoface.core.errors import GenofaceError
from genoface.models.difface import MeshAutoencoder, Pool, SpiralConv
from genoface.shape import builtin_shape_model, downsampling_hierarchy, load_sfm, spiral_sequences

trimesh = pytest.importorskip("trimesh")

SFM_DIR = Path(__file__).resolve().parents[2] / "shared/data/sfm"
SMALL = {"channels": (8, 8, 16, 16), "latent_dim": 8, "factors": (2, 2, 2, 2)}


def _hex_fan():
    """Centre 0 and six neighbours 1..6 counter-clockwise (seen from +z)."""
    ang = np.arange(6) * np.pi / 3
    v = np.vstack([[0.0, 0.0, 0.0], np.c_[np.cos(ang), np.sin(ang), np.zeros(6)]])
    t = np.array([[0, i, i % 6 + 1] for i in range(1, 7)])
    return v, t


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These meshes are tiny: thread hand-offs cost more than they save (over 10x slower on a busy 2-core
    machine), and one thread also makes the optimisation below bit-reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sphere():
    m = trimesh.creation.icosphere(subdivisions=2)  # 162 vertices
    return np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64)


def _model(sphere, seed=0, **kw):
    torch.manual_seed(seed)
    return MeshAutoencoder(*sphere, **{**SMALL, **kw})


# ---- SpiralConv ----------------------------------------------------------------------------------


def test_spiral_conv_picks_a_spiral_position_by_hand():
    v, t = _hex_fan()
    idx = spiral_sequences(v, t, length=9)
    conv = SpiralConv(2, 1, idx)
    x = torch.randn(3, 7, 2)
    for j in range(9):
        for c in range(2):
            with torch.no_grad():
                conv.layer.weight.zero_()
                conv.layer.weight[0, j * 2 + c] = 1.0
            out = conv(x)
            torch.testing.assert_close(out[..., 0], x[:, idx[:, j], c])
    # By hand: the centre's spiral is [0, 1, 6, 5, 4, 3, 2, 0, 0], so slot 1 reads vertex 1.
    with torch.no_grad():
        conv.layer.weight.zero_()
        conv.layer.weight[0, 1 * 2 + 1] = 1.0
        conv.layer.bias.fill_(0.5)
    torch.testing.assert_close(conv(x)[:, 0, 0], x[:, 1, 1] + 0.5)


def test_spiral_conv_identity_on_the_first_slot(sphere):
    idx = spiral_sequences(*sphere, length=9)
    conv = SpiralConv(4, 4, idx)
    with torch.no_grad():
        conv.layer.weight.zero_()
        conv.layer.weight[:, :4] = torch.eye(4)
    x = torch.randn(2, len(idx), 4)
    torch.testing.assert_close(conv(x), x)
    assert conv.indices.dtype == torch.long and "spiral_length=9" in repr(conv)


def test_spiral_conv_refuses_bad_input():
    v, t = _hex_fan()
    conv = SpiralConv(2, 3, spiral_sequences(v, t, length=4))
    with pytest.raises(GenofaceError, match=r"\(B, 7, 2\)"):
        conv(torch.zeros(1, 6, 2))
    with pytest.raises(GenofaceError, match="lie in"):
        SpiralConv(2, 3, np.array([[0, 5], [1, 0]]))


# ---- Pool ----------------------------------------------------------------------------------------


def test_pool_matches_the_scipy_product(sphere):
    levels = downsampling_hierarchy(*sphere, factors=(2, 2))
    x = torch.randn(4, 162, 5, dtype=torch.float64)
    for lv, xin in [(levels[0], x), (levels[1], x[:, levels[0].kept])]:
        for mat, width in [(lv.down, 1), (lv.up, 3)]:
            pool = Pool(mat, width=width).double()
            src = xin if width == 1 else xin[:, lv.kept]
            out = pool(src)
            assert out.shape == (4, mat.shape[0], 5)
            # The weights are stored in the default dtype (float32), hence the tolerance.
            for b in range(4):
                np.testing.assert_allclose(out[b].numpy(), mat @ src[b].numpy(), rtol=1e-6, atol=1e-6)
            assert abs(pool.to_scipy() - mat).max() < 1e-6


def test_pool_of_a_random_sparse_matrix_and_its_gradient():
    rng = np.random.default_rng(0)
    m = sp.random(30, 50, density=0.08, random_state=rng, format="csr")
    pool = Pool(m).double()
    x = torch.randn(3, 50, 2, dtype=torch.float64, requires_grad=True)
    out = pool(x)
    dense = torch.from_numpy(m.toarray())
    torch.testing.assert_close(out, torch.einsum("ij,bjc->bic", dense, x))
    assert torch.autograd.gradcheck(pool, (x,))
    with pytest.raises(GenofaceError, match="width"):
        Pool(m, width=1)


def test_upsampling_keeps_a_constant_field(sphere):
    for lv in downsampling_hierarchy(*sphere, factors=(2, 2, 2, 2)):
        pool = Pool(lv.up, width=3)
        out = pool(torch.full((2, lv.up.shape[1], 3), 7.0))
        torch.testing.assert_close(out, torch.full_like(out, 7.0))


# ---- the autoencoder -----------------------------------------------------------------------------


def test_autoencoder_shapes_of_every_block(sphere):
    model = _model(sphere)
    assert model.level_sizes == (162, 81, 40, 20, 10)
    x = torch.as_tensor(sphere[0], dtype=torch.float32)[None].repeat(5, 1, 1)
    h = x
    for i, (conv, down) in enumerate(zip(model.encoder_convs, model.down, strict=True)):
        h = conv(h)
        assert h.shape == (5, model.level_sizes[i], SMALL["channels"][i])
        h = down(h)
        assert h.shape == (5, model.level_sizes[i + 1], SMALL["channels"][i])
    z = model.encode(x)
    assert z.shape == (5, 8)
    h = model.from_latent(z).reshape(5, 10, 16)
    for i in reversed(range(4)):
        h = model.up[i](h)
        assert h.shape[:2] == (5, model.level_sizes[i])
        h = model.decoder_convs[i](h)
        assert h.shape == (5, model.level_sizes[i], SMALL["channels"][i])
    recon, z2 = model(x)
    assert recon.shape == x.shape and model.decode(z).shape == x.shape
    torch.testing.assert_close(z2, z)


def test_gradients_reach_every_parameter(sphere):
    model = _model(sphere)
    x = torch.as_tensor(sphere[0], dtype=torch.float32)[None] * (1 + 0.1 * torch.randn(4, 162, 1))
    recon, _ = model(x)
    ((recon - x) ** 2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_to_moves_buffers_and_casts_floats(sphere):
    model = _model(sphere).to("cpu").to(torch.float64)
    assert model.up[0].weight.dtype == torch.float64 and model.mean.dtype == torch.float64
    assert model.encoder_convs[0].indices.dtype == torch.long and model.up[0].index.dtype == torch.long
    assert all(b.device.type == "cpu" for b in model.buffers())
    recon, z = model(torch.as_tensor(sphere[0])[None])
    assert recon.dtype == torch.float64 and z.dtype == torch.float64
    names = {n for n, _ in model.named_buffers()}
    assert {"template_vertices", "mean", "std", "down.0.index", "up.3.weight", "encoder_convs.0.indices"} <= names


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_cuda_moves_every_buffer(sphere):  # pragma: no cover - GPU only
    model = _model(sphere).to("cuda")
    assert all(b.device.type == "cuda" for b in model.buffers())
    assert model(torch.as_tensor(sphere[0], dtype=torch.float32, device="cuda")[None])[0].is_cuda


def test_standardisation_buffers(sphere):
    v = sphere[0]
    model = _model(sphere, mean=v * 1.1, std=2.0)
    np.testing.assert_allclose(model.mean.numpy(), v * 1.1, rtol=1e-6)
    assert torch.all(model.std == 2.0)
    with torch.no_grad():  # zero network output -> decode returns exactly the mean
        model.output_conv.layer.weight.zero_()
        model.output_conv.layer.bias.zero_()
    torch.testing.assert_close(model.decode(torch.zeros(1, 8))[0], model.mean)
    with pytest.raises(GenofaceError, match="std must be > 0"):
        _model(sphere, std=0.0)
    with pytest.raises(GenofaceError, match=r"\(162, 3\)"):
        _model(sphere, mean=np.zeros((5, 3)))


def test_bad_hyper_parameters_are_refused(sphere):
    with pytest.raises(GenofaceError, match="factors"):
        MeshAutoencoder(*sphere, channels=(8, 8), factors=(2, 2, 2))
    with pytest.raises(GenofaceError, match="dilation"):
        MeshAutoencoder(*sphere, channels=(8, 8), factors=(2, 2), dilation=(1, 1, 1))
    with pytest.raises(GenofaceError, match="channels"):
        MeshAutoencoder(*sphere, channels=(), factors=())
    model = _model(sphere)
    with pytest.raises(GenofaceError, match="encode expects"):
        model.encode(torch.zeros(2, 161, 3))
    with pytest.raises(GenofaceError, match="decode expects"):
        model.decode(torch.zeros(2, 7))


def _smooth_deformations(v: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Random anisotropic scalings plus a low-frequency radial bump of the unit sphere."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        scale = 1 + 0.2 * rng.standard_normal(3)
        d = rng.standard_normal(3)
        d /= np.linalg.norm(d)
        bump = 0.15 * rng.standard_normal() * np.exp(-4 * ((v - d) ** 2).sum(1))
        out.append(v * scale + v * bump[:, None])
    return np.stack(out)


def test_overfits_a_tiny_set(sphere):
    x = torch.as_tensor(_smooth_deformations(sphere[0], 8, seed=1), dtype=torch.float32)
    model = _model(sphere, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def error() -> float:
        with torch.no_grad():
            return float((model(x)[0] - x).norm(dim=-1).mean())

    initial = error()
    for _ in range(200):
        opt.zero_grad()
        loss = (model(x)[0] - x).abs().mean()
        loss.backward()
        opt.step()
    final = error()
    assert final < 0.1 * initial, (initial, final)


def test_build_twice_gives_the_same_buffers(sphere):
    a, b = _model(sphere, seed=0), _model(sphere, seed=1)
    bufs_a, bufs_b = dict(a.named_buffers()), dict(b.named_buffers())
    assert bufs_a.keys() == bufs_b.keys()
    for k in bufs_a:
        assert torch.equal(bufs_a[k], bufs_b[k]), k


def test_state_dict_round_trip(sphere):
    a = _model(sphere, seed=0)
    x = torch.as_tensor(_smooth_deformations(sphere[0], 3, seed=2), dtype=torch.float32)
    state = {k: v.clone() for k, v in a.state_dict().items()}
    b = _model(sphere, seed=5)
    b.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(a(x)[0], b(x)[0])
        # From the state alone (template inside) and the JSON-ready config; NumPy arrays accepted.
        c = MeshAutoencoder.from_state_dict({k: v.numpy() for k, v in state.items()}, a.config())
        assert torch.equal(a(x)[0], c(x)[0])
        assert torch.equal(a.encode(x), c.encode(x))
    with pytest.raises(GenofaceError, match="template_vertices"):
        MeshAutoencoder.from_state_dict({}, a.config())


def test_builtin_face_hierarchy_builds_fast():
    m = builtin_shape_model()
    t0 = time.perf_counter()
    model = MeshAutoencoder.from_shape_model(m)
    assert time.perf_counter() - t0 < 10
    assert model.level_sizes == (5042, 1260, 315, 79, 20)
    assert model.n_bottleneck == 20 * 32


@pytest.mark.skipif(not (SFM_DIR / "sfm_shape_3448.npz").exists(), reason="Surrey Face Model not available")
def test_sfm_hierarchy_builds_fast():
    m = load_sfm(SFM_DIR)
    t0 = time.perf_counter()
    model = MeshAutoencoder.from_shape_model(m)
    assert time.perf_counter() - t0 < 10
    assert model.level_sizes == (3448, 862, 216, 54, 14)
    with torch.no_grad():
        recon, z = model(torch.as_tensor(m.mean, dtype=torch.float32)[None])
    assert recon.shape == (1, 3448, 3) and z.shape == (1, 128)
