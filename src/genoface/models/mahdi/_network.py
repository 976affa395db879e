"""Mahdi et al.'s part encoders: one SpiralNet++ encoder per facial part, trained by a triplet loss.

Each :class:`PartEncoder` reads its part's vertices from the whole face, convolves them with
spiral convolutions on the part's patch of the template, pools twice through the whole
template's quadric-collapse hierarchy (restricted to the part) and maps the coarsest features to
a unit-length embedding. The layers (:class:`~genoface.models.difface.SpiralConv`,
:class:`~genoface.models.difface.Pool`) are Difface's mesh network's.

:func:`triplet_loss` is the batch-all triplet loss (Schroff et al. 2015; Hermans et al. 2017)
over several attributes at once: for every attribute, every valid triplet of the batch (anchor
and positive share the attribute's value, the negative has another) costs
``max(0, d(a, p) - d(a, n) + margin)`` with ``d`` the squared Euclidean distance, averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from genoface.models.difface import Pool, SpiralConv
from genoface.shape import MeshLevel, downsampling_hierarchy, spiral_sequences

#: Down-sampling factors of the template hierarchy the part encoders pool through.
POOL_FACTORS = (4, 4)


def triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-all triplet loss of ``embeddings`` (..., B, D) for ``labels`` (A, B) of A attributes
    (integer values, -1 unknown): the mean over attributes (those with a valid triplet) of the
    mean hinge over their valid triplets; leading dimensions of ``embeddings`` (parts) are summed."""
    d = torch.cdist(embeddings, embeddings).pow(2)  # (..., B, B)
    known = labels >= 0
    same = (labels[:, :, None] == labels[:, None, :]) & known[:, :, None] & known[:, None, :]  # (A, B, B)
    eye = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same & known[:, :, None] & known[:, None, :]
    valid = positive[:, :, :, None] & negative[:, :, None, :]  # (A, anchor, positive, negative)
    counts = valid.sum(dim=(1, 2, 3))
    hinge = F.relu(d[..., None, :, :, None] - d[..., None, :, None, :] + margin)  # (..., A, B, B, B)
    per_attribute = (hinge * valid).sum(dim=(-3, -2, -1)) / counts.clamp_min(1)
    used = counts > 0
    if not used.any():
        return embeddings.sum() * 0.0
    return per_attribute[..., used].mean(dim=-1).sum()


class PartEncoder(nn.Module):
    """SpiralNet++ encoder of one part: spiral convolution and pooling at each level of the
    template's hierarchy restricted to the part, then a Linear to ``embed_dim``, normalized."""

    def __init__(
        self,
        template_vertices: np.ndarray,
        template_triangles: np.ndarray,
        members: np.ndarray,
        hierarchy: Sequence[MeshLevel],
        *,
        channels: Sequence[int],
        embed_dim: int,
        spiral_length: int,
    ) -> None:
        super().__init__()
        self.register_buffer("members", torch.as_tensor(np.asarray(members), dtype=torch.long))
        convs, pools = [], []
        vertices, triangles, local = template_vertices, template_triangles, np.asarray(members)
        c_in = 3
        for lv, c_out in zip(hierarchy, channels, strict=True):
            sub_v, sub_t = _submesh(vertices, triangles, local)
            convs.append(SpiralConv(c_in, c_out, spiral_sequences(sub_v, sub_t, length=spiral_length)))
            kept = np.flatnonzero(np.isin(lv.kept, local))  # the part's vertices on the coarser level
            if len(kept) == 0:  # too small to pool: keep the part's vertices as they are
                pools.append(Pool(sp.identity(len(local), format="csr"), width=1))
            else:
                position = {int(v): i for i, v in enumerate(local)}
                rows = [position[int(v)] for v in lv.kept[kept]]
                pools.append(Pool(sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)),
                                                shape=(len(rows), len(local))), width=1))  # fmt: skip
                vertices, triangles, local = lv.vertices, lv.triangles, kept
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        self.pools = nn.ModuleList(pools)
        self.n_bottleneck = pools[-1].out_vertices * c_in
        self.to_embedding = nn.Linear(self.n_bottleneck, int(embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardized whole faces (B, V, 3) -> unit embeddings (B, embed_dim) of this part."""
        h = x.index_select(1, self.members)
        for conv, pool in zip(self.convs, self.pools, strict=True):
            h = pool(F.elu(conv(h)))
        return F.normalize(self.to_embedding(h.reshape(h.shape[0], self.n_bottleneck)), dim=1)


class PartNetwork(nn.Module):
    """Every part's encoder, and the face standardization they share (one state_dict)."""

    def __init__(
        self,
        template_vertices: np.ndarray,
        template_triangles: np.ndarray,
        members: Sequence[np.ndarray],
        *,
        channels: Sequence[int] = (16, 32),
        embed_dim: int = 32,
        spiral_length: int = 9,
    ) -> None:
        super().__init__()
        v = np.asarray(template_vertices, dtype=np.float64)
        t = np.asarray(template_triangles, dtype=np.int64)
        hierarchy = downsampling_hierarchy(v, t, POOL_FACTORS[: len(channels)])
        self.encoders = nn.ModuleList(
            PartEncoder(v, t, m, hierarchy, channels=channels, embed_dim=embed_dim, spiral_length=spiral_length)
            for m in members
        )
        dtype = torch.get_default_dtype()
        self.register_buffer("mean", torch.tensor(v, dtype=dtype))
        self.register_buffer("scale", torch.ones((), dtype=dtype))

    def forward(self, faces_mm: torch.Tensor) -> torch.Tensor:
        """Faces (B, V, 3) in mm -> embeddings (P, B, embed_dim), one per part."""
        x = (faces_mm - self.mean) / self.scale
        return torch.stack([encoder(x) for encoder in self.encoders])


def _submesh(vertices: np.ndarray, triangles: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices ``keep`` and the triangles lying wholly among them, re-indexed."""
    index = np.full(len(vertices), -1, dtype=np.int64)
    index[keep] = np.arange(len(keep))
    tri = index[np.asarray(triangles)]
    return vertices[keep], tri[(tri >= 0).all(axis=1)]
