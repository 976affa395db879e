"""Difface's face encoder/decoder: a SpiralNet++ mesh autoencoder (Gong et al., ICCVW 2019).

- :class:`SpiralConv`: gather each vertex's spiral of neighbours, concatenate, one Linear.
- :class:`Pool`: a fixed sparse (V_out, V_in) sampling matrix applied to (B, V_in, C) features.
- :class:`MeshAutoencoder`: spiral-convolution blocks over a quadric-collapse hierarchy of the
  template (COMA / SpiralNet++), a face (B, V, 3) in mm to a latent (B, latent_dim) and back.

Every operator (spirals, sampling matrices, template, normalisation) is a deterministic function
of the template mesh and the hyper-parameters, computed once in ``__init__`` and registered as a
persistent buffer: ``.to(device)`` moves it, a ``state_dict`` carries it, and a module rebuilt
from the same template and :meth:`MeshAutoencoder.config` has the same buffers, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from genoface.core.errors import GenofaceError
from genoface.shape import downsampling_hierarchy, spiral_sequences

logger = logging.getLogger(__name__)

__all__ = ["MeshAutoencoder", "Pool", "SpiralConv"]


class SpiralConv(nn.Module):
    """SpiralNet++ convolution: ``out[v] = W @ concat(x[s_v0], ..., x[s_v(L-1)]) + b``.

    Parameters
    ----------
    in_channels, out_channels : feature sizes per vertex.
    indices : (V, L) integer spiral of every vertex (its own index first), e.g. from
        :func:`genoface.shape.spiral_sequences`. Kept as a persistent ``long`` buffer.

    Input (B, V, in_channels), output (B, V, out_channels). The Linear's input columns are
    grouped by spiral position: columns ``j*in_channels : (j+1)*in_channels`` see the features
    of the j-th vertex of the spiral.
    """

    def __init__(self, in_channels: int, out_channels: int, indices: torch.Tensor | np.ndarray) -> None:
        super().__init__()
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        if idx.ndim != 2 or idx.shape[0] < 1 or idx.shape[1] < 1:
            raise GenofaceError(f"spiral indices must be (V, L) with V, L >= 1, got shape {tuple(idx.shape)}")
        if idx.min() < 0 or idx.max() >= idx.shape[0]:
            raise GenofaceError(f"spiral indices must lie in 0..{idx.shape[0] - 1} (one row per vertex)")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.register_buffer("indices", idx)
        self.layer = nn.Linear(self.in_channels * idx.shape[1], self.out_channels)
        self.reset_parameters()

    @property
    def n_vertices(self) -> int:
        return int(self.indices.shape[0])

    @property
    def spiral_length(self) -> int:
        return int(self.indices.shape[1])

    def reset_parameters(self) -> None:
        """Xavier-uniform weights, zero bias, as SpiralNet++."""
        nn.init.xavier_uniform_(self.layer.weight)
        nn.init.zeros_(self.layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.n_vertices or x.shape[2] != self.in_channels:
            raise GenofaceError(f"SpiralConv expects (B, {self.n_vertices}, {self.in_channels}), got {tuple(x.shape)}")
        b = x.shape[0]
        gathered = x.index_select(1, self.indices.reshape(-1))  # (B, V*L, C)
        return self.layer(gathered.reshape(b, self.n_vertices, self.spiral_length * self.in_channels))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, vertices={self.n_vertices}, spiral_length={self.spiral_length}"
        )


class Pool(nn.Module):
    """A fixed sparse linear map between mesh levels: ``out[b] = M @ x[b]``.

    Parameters
    ----------
    matrix : scipy.sparse (V_out, V_in), e.g. a :class:`genoface.shape.MeshLevel`'s ``down`` or
        ``up``.
    width : entries kept per row (rows with fewer are padded with weight 0); defaults to the
        largest row. Fixing it (1 for down-sampling, 3 for barycentric up-sampling) makes the
        buffer shapes depend on the vertex counts only.

    The matrix is stored as two persistent buffers, ``index`` (V_out, width) long and ``weight``
    (V_out, width) float (padded rows), rather than as a torch sparse tensor, so it follows
    ``.to(dtype)``/``.to(device)`` and has fixed shapes in a ``state_dict``. A width-1 matrix is
    applied as a gather; wider ones as a torch sparse product built on the fly.
    """

    def __init__(self, matrix: sp.spmatrix | sp.sparray, width: int | None = None) -> None:
        super().__init__()
        m = sp.csr_matrix(matrix, dtype=np.float64)
        m.sum_duplicates()
        m.eliminate_zeros()
        n_out, n_in = m.shape
        counts = np.diff(m.indptr)
        need = int(counts.max()) if n_out else 0
        width = max(need, 1) if width is None else int(width)
        if width < need:
            raise GenofaceError(f"Pool width={width}: the matrix has a row with {need} entries; use width >= {need}")
        index = np.zeros((n_out, width), dtype=np.int64)
        weight = np.zeros((n_out, width), dtype=np.float64)
        slot = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)  # position of each entry in its row
        rows = np.repeat(np.arange(n_out), counts)
        index[rows, slot] = m.indices
        weight[rows, slot] = m.data
        self.in_vertices = int(n_in)
        self.register_buffer("index", torch.from_numpy(index))
        self.register_buffer("weight", torch.from_numpy(weight).to(torch.get_default_dtype()))

    @property
    def out_vertices(self) -> int:
        return int(self.index.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_vertices:
            raise GenofaceError(f"Pool expects (B, {self.in_vertices}, C), got {tuple(x.shape)}")
        b, _, c = x.shape
        w = self.weight.to(x.dtype)
        if self.index.shape[1] == 1:  # pure selection (down-sampling): a gather is enough
            return x.index_select(1, self.index[:, 0]) * w
        # A sparse product over vertices with batch and channels as columns: on CPU it is several
        # times faster than a gather of (B, V_out, width, C) plus a weighted sum.
        rows = torch.arange(self.out_vertices, device=x.device).repeat_interleave(self.index.shape[1])
        m = torch.sparse_coo_tensor(
            torch.stack([rows, self.index.reshape(-1)]),
            w.reshape(-1),
            (self.out_vertices, self.in_vertices),
            check_invariants=False,  # built from validated buffers; the check costs a pass
        )
        out = torch.sparse.mm(m, x.transpose(0, 1).reshape(self.in_vertices, b * c))
        return out.reshape(self.out_vertices, b, c).transpose(0, 1)

    def to_scipy(self) -> sp.csr_matrix:
        """The (V_out, V_in) matrix back as scipy.sparse (for checks and plots)."""
        rows = np.repeat(np.arange(self.out_vertices), self.index.shape[1])
        w = self.weight.detach().cpu().double().numpy().ravel()
        m = sp.csr_matrix((w, (rows, self.index.cpu().numpy().ravel())), shape=(self.out_vertices, self.in_vertices))
        m.eliminate_zeros()
        return m

    def extra_repr(self) -> str:
        return f"{self.in_vertices} -> {self.out_vertices} vertices, width={self.index.shape[1]}"


def _per_level(value: int | Sequence[int], n_levels: int, name: str) -> tuple[int, ...]:
    """One positive int per level from an int or a sequence of ``n_levels`` ints."""
    vals = (value,) * n_levels if isinstance(value, (int, np.integer)) else tuple(value)
    if len(vals) != n_levels or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in vals):
        raise GenofaceError(f"{name}={value!r}: give one integer >= 1, or {n_levels} of them (one per level)")
    return tuple(int(v) for v in vals)


def _field(value: Any, n_vertices: int, default: np.ndarray, name: str) -> np.ndarray:
    """A per-vertex (V, 3) array from None (``default``), a scalar, or a (V, 3) array."""
    if value is None:
        return np.array(default, dtype=np.float64)
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        a = np.full((n_vertices, 3), float(a))
    if a.shape != (n_vertices, 3) or not np.isfinite(a).all():
        raise GenofaceError(f"{name} must be a finite scalar or ({n_vertices}, 3) array, got shape {a.shape}")
    return a


class MeshAutoencoder(nn.Module):
    """SpiralNet++ mesh autoencoder over a fixed template (Difface's face encoder/decoder).

    Parameters
    ----------
    template_vertices : (V, 3) the template in mm (e.g. a shape model's mean face); its
        geometry drives the decimation and the barycentric up-sampling.
    template_triangles : (T, 3) its triangles, counter-clockwise seen from the front.
    channels : feature channels at each mesh level, finest first; one level per entry.
        Default (16, 16, 16, 32), Difface's published setting (SpiralNet++ on COMA uses
        (32, 32, 32, 64)). Cost grows with ``V_l * channels[l] * channels[l+1]``: (16, 32, 64,
        128) costs about twice as much per batch.
    latent_dim : size of the latent code (Difface: 128).
    spiral_length : spiral length at each level (int or one per level; SpiralNet++: 9).
    dilation : spiral dilation at each level (int or one per level; SpiralNet++: 1).
    factors : down-sampling factor after each level, ``len(channels)`` of them (COMA and
        SpiralNet++: 4 each; Difface's code asks for 32 but its decimator ignores the factor).
        With (4, 4, 4, 4) the built-in face (5,042 vertices) has 20 vertices at the
        bottleneck, as COMA's 5,023-vertex FLAME mesh; the Surrey Face Model (3,448) has 14.
    mean, std : per-vertex standardisation, each None, a scalar or (V, 3) in mm. ``encode``
        sees ``(x - mean) / std`` and ``decode`` returns ``out * std + mean``; by default
        ``mean`` is the template and ``std`` is 1, so the network learns displacements in mm.

    Architecture (SpiralNet++ ``reconstruction/network.py``): encoder, per level l,
    ``SpiralConv -> ELU -> down-sample``, then a Linear from the coarsest mesh's
    ``V_L * channels[-1]`` features to the latent; decoder, a Linear back, then per level
    (coarsest first) ``up-sample -> SpiralConv -> ELU``, and a last SpiralConv to 3 coordinates.

    Unlike a scikit-learn estimator, ``__init__`` builds the operators and parameters: a torch
    module must own its parameters from construction so optimisers and ``load_state_dict`` see
    them. Building takes a fraction of a second for the face meshes; with the defaults, a
    forward and backward pass over a batch of 32 built-in faces (5,042 vertices) costs about
    0.4 CPU-seconds.
    """

    def __init__(
        self,
        template_vertices: np.ndarray,
        template_triangles: np.ndarray,
        *,
        channels: Sequence[int] = (16, 16, 16, 32),
        latent_dim: int = 128,
        spiral_length: int | Sequence[int] = 9,
        dilation: int | Sequence[int] = 1,
        factors: Sequence[int] = (4, 4, 4, 4),
        mean: np.ndarray | float | None = None,
        std: np.ndarray | float | None = None,
    ) -> None:
        super().__init__()
        v = np.asarray(template_vertices, dtype=np.float64)
        t = np.asarray(template_triangles)
        if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
            raise GenofaceError(f"template_vertices must be a finite (V, 3) array, got shape {v.shape}")
        if t.ndim != 2 or t.shape[1] != 3 or not np.issubdtype(t.dtype, np.integer):
            raise GenofaceError(f"template_triangles must be (T, 3) integer indices, got {t.dtype} {t.shape}")
        channels = tuple(channels)
        n_levels = len(channels)
        if not n_levels or not all(isinstance(c, (int, np.integer)) and c >= 1 for c in channels):
            raise GenofaceError(f"channels={channels!r}: give one integer >= 1 per mesh level, e.g. (16, 32, 64, 128)")
        if not (isinstance(latent_dim, (int, np.integer)) and latent_dim >= 1):
            raise GenofaceError(f"latent_dim={latent_dim!r}: must be an integer >= 1")
        factors = tuple(factors)
        if len(factors) != n_levels:
            raise GenofaceError(
                f"factors={factors!r} has {len(factors)} entries but channels has {n_levels}: give one per level"
            )
        self.channels = tuple(int(c) for c in channels)
        self.latent_dim = int(latent_dim)
        self.spiral_length = _per_level(spiral_length, n_levels, "spiral_length")
        self.dilation = _per_level(dilation, n_levels, "dilation")
        self.factors = _per_level(factors, n_levels, "factors")
        n = v.shape[0]

        levels = downsampling_hierarchy(v, t, self.factors)
        meshes = [(v, t)] + [(lv.vertices, lv.triangles) for lv in levels]
        self.level_sizes = tuple(m[0].shape[0] for m in meshes)
        logger.debug("mesh hierarchy: %s vertices", " -> ".join(map(str, self.level_sizes)))
        # Convolutions run on every level but the coarsest, which only feeds the dense bottleneck.
        spirals = [
            spiral_sequences(mv, mt, length=ln, dilation=dl)
            for (mv, mt), ln, dl in zip(meshes[:-1], self.spiral_length, self.dilation, strict=True)
        ]

        dtype = torch.get_default_dtype()
        self.register_buffer("template_vertices", torch.tensor(v, dtype=dtype))
        self.register_buffer("template_triangles", torch.tensor(t, dtype=torch.long))
        self.register_buffer("mean", torch.from_numpy(_field(mean, n, v, "mean")).to(dtype))
        std_a = _field(std, n, np.ones((n, 3)), "std")
        if (std_a <= 0).any():
            raise GenofaceError("std must be > 0 everywhere (it divides the input)")
        self.register_buffer("std", torch.from_numpy(std_a).to(dtype))

        c = self.channels
        self.down = nn.ModuleList(Pool(lv.down, width=1) for lv in levels)
        self.up = nn.ModuleList(Pool(lv.up, width=3) for lv in levels)  # barycentric: <= 3 per row
        self.encoder_convs = nn.ModuleList(
            SpiralConv(3 if i == 0 else c[i - 1], c[i], spirals[i]) for i in range(n_levels)
        )
        self.n_bottleneck = self.level_sizes[-1] * c[-1]
        self.to_latent = nn.Linear(self.n_bottleneck, self.latent_dim)
        self.from_latent = nn.Linear(self.latent_dim, self.n_bottleneck)
        # decoder_convs[i] runs on level i, from c[i+1] (c[-1] at the coarsest) to c[i] channels.
        self.decoder_convs = nn.ModuleList(
            SpiralConv(c[min(i + 1, n_levels - 1)], c[i], spirals[i]) for i in range(n_levels)
        )
        self.output_conv = SpiralConv(c[0], 3, spirals[0])
        self.reset_parameters()

    # ---- construction helpers --------------------------------------------------------------------

    @classmethod
    def from_shape_model(cls, shape_model: Any, **kwargs: Any) -> Self:
        """Build on a :class:`genoface.shape.ShapeModel` (or anything with ``mean`` (V, 3) and
        ``triangles`` (T, 3)): its mean face is the template; ``kwargs`` go to ``__init__``."""
        return cls(shape_model.mean, shape_model.triangles, **kwargs)

    def config(self) -> dict[str, Any]:
        """The hyper-parameters as JSON-ready values: ``cls(template_v, template_t, **config())``
        rebuilds this module's operators exactly (``mean``/``std`` are buffers, in the state)."""
        return {
            "channels": list(self.channels),
            "latent_dim": self.latent_dim,
            "spiral_length": list(self.spiral_length),
            "dilation": list(self.dilation),
            "factors": list(self.factors),
        }

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> Self:
        """Rebuild from a saved ``state_dict`` (tensors or NumPy arrays) and :meth:`config`.

        The template is read from the state itself. Loading then copies every saved buffer, so
        the result equals the saved module even where the stored template had been rounded to
        float32 (the buffer shapes depend only on vertex counts and ``config``).
        """
        try:
            tv = np.asarray(state_dict["template_vertices"], dtype=np.float64)
            tt = np.asarray(state_dict["template_triangles"], dtype=np.int64)
        except KeyError as exc:
            raise GenofaceError(f"state_dict lacks {exc.args[0]!r}: not a MeshAutoencoder state") from exc
        model = cls(tv, tt, **dict(config))
        model.load_state_dict({k: torch.as_tensor(np.asarray(a)) for k, a in state_dict.items()})
        return model

    def reset_parameters(self) -> None:
        """Xavier-uniform weights and zero biases everywhere, as SpiralNet++."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.xavier_uniform_(p)

    # ---- the network -----------------------------------------------------------------------------

    @property
    def n_vertices(self) -> int:
        return self.level_sizes[0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Faces (B, V, 3) in mm -> latent codes (B, latent_dim)."""
        if x.ndim != 3 or x.shape[1:] != (self.n_vertices, 3):
            raise GenofaceError(f"encode expects faces (B, {self.n_vertices}, 3), got {tuple(x.shape)}")
        h = (x - self.mean) / self.std
        for conv, down in zip(self.encoder_convs, self.down, strict=True):
            h = down(F.elu(conv(h)))
        return self.to_latent(h.reshape(h.shape[0], self.n_bottleneck))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, latent_dim) -> faces (B, V, 3) in mm."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise GenofaceError(f"decode expects latents (B, {self.latent_dim}), got {tuple(z.shape)}")
        h = self.from_latent(z).reshape(z.shape[0], self.level_sizes[-1], self.channels[-1])
        for i in reversed(range(len(self.channels))):
            h = F.elu(self.decoder_convs[i](self.up[i](h)))
        return self.output_conv(h) * self.std + self.mean

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Faces (B, V, 3) -> (reconstruction (B, V, 3), latent (B, latent_dim))."""
        z = self.encode(x)
        return self.decode(z), z

    def extra_repr(self) -> str:
        return f"vertices={' -> '.join(map(str, self.level_sizes))}, latent_dim={self.latent_dim}"
