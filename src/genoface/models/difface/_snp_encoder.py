"""Difface's genome side: a transformer over SNP tokens, an optional covariate encoder, and the
CLIP loss that aligns SNP and face embeddings.

Published (Jiao et al., Advanced Science 2025): 7,842 SNPs -> one linear layer -> two transformer
layers -> a 128-d embedding, aligned with the face embedding by a CLIP loss with a learnable
temperature. Here a genotype is a token (0/1/2/missing, a missing call being its own token),
tokens carry the SNP's identity and position, SNPs are dropped at random in training so that
prediction degrades gracefully with missing SNPs, and age/sex/BMI are optional conditioning.

Attention cost: one token per SNP makes self-attention O(n_snps^2) per layer, far too slow on a
CPU (measured on 2 shared cores, batch of 64, 1,000 SNPs, forward+backward+AdamW: 4.3 s with one
token per SNP; 145 ms with 64 tokens; 80 ms with 32). ``max_tokens`` therefore groups adjacent
SNPs (in chromosome/position order) into patches: a patch token is a linear layer over the
one-hot genotypes of its SNPs -- the published "linear layer before the transformer", applied
per patch -- plus the patch's mean identity and position encoding. ``max_tokens=None`` keeps
one token per SNP (the literal design; fine for a few hundred SNPs or on a GPU); use
``max_tokens=32`` to train on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genoface.core.errors import GenofaceError

#: Genotype classes: dosage 0, 1, 2 and the missing call (coded -1 in genotype matrices).
N_GENOTYPE_CLASSES = 4
MISSING_CLASS = 3

#: Chromosome names and their codes for :func:`chromosome_codes` (a "chr" prefix is ignored).
CHROMOSOME_CODES: dict[str, int] = {**{str(i): i - 1 for i in range(1, 23)}, "X": 22, "Y": 23, "XY": 24, "MT": 25}

#: Shortest and longest wavelength (bp) of the sinusoidal position encoding: from the scale of
#: local linkage disequilibrium (kb) to beyond the longest chromosome (~250 Mb).
POSITION_WAVELENGTHS_BP = (1e3, 1e9)

#: CLIP's initial temperature and its cap on the logit scale.
CLIP_INIT_TEMPERATURE = 0.07
CLIP_MAX_LOGIT_SCALE = 100.0


def chromosome_codes(chrom: Sequence[str]) -> np.ndarray:
    """Integer codes (0..25) for chromosome names "1".."22", "X", "Y", "XY", "MT" (optionally
    prefixed "chr"), as :class:`SNPTransformer` takes them."""
    names = [str(c).removeprefix("chr") for c in chrom]
    unknown = sorted({c for c in names if c not in CHROMOSOME_CODES})
    if unknown:
        raise GenofaceError(f"unknown chromosome name(s) {unknown[:5]}; expected one of {list(CHROMOSOME_CODES)}")
    return np.array([CHROMOSOME_CODES[c] for c in names], dtype=np.int64)


def sinusoidal_position_encoding(positions: Tensor, dim: int) -> Tensor:
    """(n, dim) sin/cos encoding of base-pair positions, wavelengths geometric between
    :data:`POSITION_WAVELENGTHS_BP` (the text-transformer encoding, rescaled to genome lengths)."""
    lo, hi = POSITION_WAVELENGTHS_BP
    half = dim // 2
    wavelengths = lo * (hi / lo) ** (
        torch.arange(half, dtype=torch.float64, device=positions.device) / max(half - 1, 1)
    )
    angles = 2 * math.pi * positions.to(torch.float64)[:, None] / wavelengths[None, :]
    enc = torch.cat([angles.sin(), angles.cos()], dim=1)
    if dim % 2:  # odd width: one zero column keeps the shape
        enc = F.pad(enc, (0, 1))
    return enc.to(torch.get_default_dtype())


def _patch_index(chrom_codes: np.ndarray, positions: np.ndarray, patch_size: int) -> np.ndarray:
    """(n_patches, patch_size) SNP column indices: SNPs sorted by chromosome and position, cut
    into consecutive patches; the last patch is padded with ``n_snps`` (a padding column).

    Patches may straddle a chromosome boundary: cutting per chromosome would add up to one
    partial patch per chromosome and break the ``max_tokens`` bound."""
    n = len(chrom_codes)
    order = np.lexsort((np.arange(n), positions, chrom_codes))  # stable: ties keep column order
    n_patches = -(-n // patch_size)
    padded = np.full(n_patches * patch_size, n, dtype=np.int64)
    padded[:n] = order
    return padded.reshape(n_patches, patch_size)


class TransformerBlock(nn.Module):
    """Pre-norm transformer encoder layer (as ``nn.TransformerEncoderLayer(norm_first=True)``)
    with dropout on the residual branches but not on the attention weights: attention dropout
    forces PyTorch's slow unfused attention path, which tripled the CPU training time."""

    def __init__(self, dim: int, heads: int, ff_mult: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Linear(ff_mult * dim, dim))
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.LayerNorm):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.out(a))
        return x + self.drop(self.ff(self.norm2(x)))


class SNPTransformer(nn.Module):
    """Transformer encoder of a genotype vector to a ``dim``-d embedding.

    Parameters
    ----------
    n_snps : number of SNP columns in the input.
    chrom_codes : (n_snps,) non-negative integer chromosome codes (see :func:`chromosome_codes`).
    positions : (n_snps,) base-pair positions within the chromosome.
    dim : token and output width.
    depth, heads, ff_mult, dropout : transformer layers (pre-norm), attention heads (``dim``
        must divide by ``heads``), feed-forward width as a multiple of ``dim``, dropout rate.
    snp_drop : mean share of genotypes replaced by the missing token in training. Each person
        draws a rate uniformly in [0, 2 * snp_drop] (capped at 1), so training sees every level of
        missingness up to twice the mean -- what makes the embedding degrade gracefully. No drop
        in eval mode.
    max_tokens : at most this many SNP tokens: adjacent SNPs are grouped into
        ``ceil(n_snps / max_tokens)``-SNP patches (see the module docstring). None: one token per
        SNP (full attention over SNPs; slow on a CPU beyond a few hundred SNPs).

    Input: (B, n_snps) integer genotypes (0/1/2, -1 missing), columns in the order of
    ``chrom_codes``/``positions``. Output: (B, dim).

    Token for SNP j with genotype class g: ``G[g] + S[j, g] + I[j] + sin(pos_j) + C[chrom_j]``:
    a shared genotype embedding G, a SNP-specific genotype embedding S (the linear layer over
    one-hot genotypes, which a patch token needs to tell its SNPs apart), an identity
    embedding I, a fixed sinusoidal encoding of the position and a learned chromosome embedding C.
    A patch token is the mean of its SNPs' tokens. A learned [CLS] token, prepended, is read out
    after the last layer through a LayerNorm and a linear projection: [CLS] rather than
    attention pooling because it attends in every layer (with two layers, a pool after the last
    would see only one round of mixing) at the cost of one token, as in BERT/ViT.
    """

    def __init__(
        self,
        n_snps: int,
        chrom_codes: Sequence[int] | np.ndarray,
        positions: Sequence[int] | np.ndarray,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        ff_mult: int = 2,
        dropout: float = 0.1,
        snp_drop: float = 0.1,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__()
        chrom = np.asarray(chrom_codes, dtype=np.int64)
        pos = np.asarray(positions, dtype=np.int64)
        _check_snp_params(n_snps, chrom, pos, dim, depth, heads, ff_mult, dropout, snp_drop, max_tokens)
        self.n_snps, self.dim, self.depth, self.heads = n_snps, dim, depth, heads
        self.ff_mult, self.dropout, self.snp_drop, self.max_tokens = ff_mult, dropout, snp_drop, max_tokens
        self.patch_size = 1 if max_tokens is None else -(-n_snps // max_tokens)

        self.register_buffer("chrom_codes", torch.from_numpy(chrom))
        self.register_buffer("positions", torch.from_numpy(pos))
        self.register_buffer("patch_index", torch.from_numpy(_patch_index(chrom, pos, self.patch_size)))
        # Fixed, so a buffer; not persistent because it is rebuilt from ``positions``.
        self.register_buffer("position_encoding", sinusoidal_position_encoding(self.positions, dim), persistent=False)

        self.genotype_embedding = nn.Parameter(torch.empty(N_GENOTYPE_CLASSES, dim))
        self.snp_genotype_embedding = nn.Parameter(torch.empty(n_snps, N_GENOTYPE_CLASSES, dim))
        self.identity_embedding = nn.Parameter(torch.empty(n_snps, dim))
        self.chrom_embedding = nn.Embedding(int(chrom.max()) + 1, dim)
        self.cls_token = nn.Parameter(torch.empty(dim))
        self.layers = nn.ModuleList(TransformerBlock(dim, heads, ff_mult, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self.reset_parameters()

    @property
    def n_tokens(self) -> int:
        """Number of SNP tokens the transformer sees (without [CLS])."""
        return self.patch_index.shape[0]

    def reset_parameters(self) -> None:
        """Embeddings N(0, 0.02) as in BERT/CLIP. The SNP-specific genotype embedding is random
        too, not zero: at zero, a patch token (a mean) would start blind to which of its SNPs
        carries which genotype."""
        for p in (
            self.genotype_embedding,
            self.snp_genotype_embedding,
            self.identity_embedding,
            self.chrom_embedding.weight,
            self.cls_token,
        ):
            nn.init.normal_(p, std=0.02)
        for layer in self.layers:
            layer.reset_parameters()
        self.norm.reset_parameters()
        self.proj.reset_parameters()

    def extra_repr(self) -> str:
        return (
            f"n_snps={self.n_snps}, n_tokens={self.n_tokens}, patch_size={self.patch_size}, dim={self.dim}, "
            f"snp_drop={self.snp_drop}"
        )

    def genotype_classes(self, genotypes: Tensor) -> Tensor:
        """(B, n_snps) long classes 0..3 (3 = missing), with SNPs dropped at random in training."""
        if genotypes.ndim != 2 or genotypes.shape[1] != self.n_snps:
            raise GenofaceError(f"expected genotypes of shape (B, {self.n_snps}), got {tuple(genotypes.shape)}")
        if genotypes.dtype.is_floating_point or genotypes.dtype == torch.bool:
            raise GenofaceError(f"expected integer genotypes (0/1/2, -1 missing), got dtype {genotypes.dtype}")
        g = genotypes.long()
        if g.numel() and (int(g.min()) < -1 or int(g.max()) > 2):
            raise GenofaceError(f"genotypes must be 0, 1, 2 or -1 (missing); got values in [{g.min()}, {g.max()}]")
        g = torch.where(g < 0, MISSING_CLASS, g)
        if self.training and self.snp_drop > 0:
            rate = torch.rand(g.shape[0], 1, device=g.device) * min(2 * self.snp_drop, 1.0)
            g = torch.where(torch.rand(g.shape, device=g.device) < rate, MISSING_CLASS, g)
        return g

    def tokens(self, classes: Tensor) -> Tensor:
        """(B, n_tokens, dim) SNP/patch tokens from (B, n_snps) genotype classes."""
        b, (p, k) = classes.shape[0], self.patch_index.shape
        count = (self.patch_index < self.n_snps).sum(1, keepdim=True).to(self.identity_embedding.dtype)  # (P, 1)
        # Genotype part, a linear layer over each patch's one-hot genotypes: weights (P, k * 4, dim)
        # gathered from the per-(SNP, class) table, with a zero row for padding. A batched matmul,
        # because embedding_bag's backward sorts its indices, which dominated the step time.
        table = self.snp_genotype_embedding + self.genotype_embedding  # (n_snps, 4, dim)
        table = torch.cat([table, table.new_zeros(1, N_GENOTYPE_CLASSES, self.dim)])
        weight = table[self.patch_index].reshape(p, k * N_GENOTYPE_CLASSES, self.dim) / count[:, :, None]
        padded = torch.cat([classes, classes.new_zeros(b, 1)], dim=1)[:, self.patch_index]  # (B, P, k)
        onehot = F.one_hot(padded, N_GENOTYPE_CLASSES).to(weight.dtype).reshape(b, p, k * N_GENOTYPE_CLASSES)
        geno = torch.bmm(onehot.transpose(0, 1), weight).transpose(0, 1)  # (B, P, dim): mean over the patch
        # Identity and position part: the same for every person, so averaged per patch once.
        const = self.identity_embedding + self.position_encoding + self.chrom_embedding(self.chrom_codes)
        const = torch.cat([const, const.new_zeros(1, self.dim)])[self.patch_index].sum(1) / count
        return geno + const

    def forward(self, genotypes: Tensor) -> Tensor:
        """(B, dim) embedding of (B, n_snps) genotypes (0/1/2, -1 missing)."""
        x = self.tokens(self.genotype_classes(genotypes))
        x = torch.cat([self.cls_token.expand(x.shape[0], 1, -1), x], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.proj(self.norm(x[:, 0]))


def _check_snp_params(n_snps, chrom, pos, dim, depth, heads, ff_mult, dropout, snp_drop, max_tokens) -> None:
    """One error per illegal SNPTransformer argument, naming it and its value."""
    if not isinstance(n_snps, int | np.integer) or n_snps < 1:
        raise GenofaceError(f"n_snps must be a positive integer, got {n_snps!r}")
    if chrom.shape != (n_snps,) or pos.shape != (n_snps,):
        raise GenofaceError(
            f"chrom_codes and positions must have n_snps={n_snps} entries, got {chrom.shape} and {pos.shape}"
        )
    if chrom.min() < 0:
        raise GenofaceError(f"chrom_codes must be non-negative integers, got minimum {chrom.min()}")
    for name, value in (("dim", dim), ("depth", depth), ("heads", heads), ("ff_mult", ff_mult)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise GenofaceError(f"{name} must be a positive integer, got {value!r}")
    if dim % heads:
        raise GenofaceError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
    if not 0 <= dropout < 1:
        raise GenofaceError(f"dropout must be in [0, 1), got {dropout!r}")
    if not 0 <= snp_drop < 1:
        raise GenofaceError(f"snp_drop must be in [0, 1), got {snp_drop!r}")
    if max_tokens is not None and (not isinstance(max_tokens, int | np.integer) or max_tokens < 1):
        raise GenofaceError(f"max_tokens must be a positive integer or None, got {max_tokens!r}")


class CovariateEncoder(nn.Module):
    """Embedding of optional age, sex and BMI, each with a "given" flag, to a (B, dim) vector
    (to add to, or concatenate with, the SNP embedding).

    Parameters
    ----------
    dim : output width.
    age_moments, bmi_moments : training mean and SD (years; kg/m2) used to standardize; stored
        as buffers so a saved model keeps them.
    cov_drop : in training, each person loses all covariates with this probability, and each
        covariate alone with this probability too -- so one model serves people with all, some
        or none of them.
    hidden : hidden width of the MLP.

    ``forward(age=None, is_male=None, bmi=None, batch_size=None)``: (B,) tensors, NaN for a
    missing value, None for a covariate nobody has (then ``batch_size`` is needed if all are
    None). Features are ``[value * given, given]`` per covariate (sex coded +-1); the output is
    ``null + MLP(features)`` with a bias-free MLP whose activation is 0 at 0, so with nothing
    given the output is exactly the learned "no covariates" embedding ``null``.
    """

    def __init__(
        self,
        dim: int = 128,
        age_moments: tuple[float, float] = (0.0, 1.0),
        bmi_moments: tuple[float, float] = (0.0, 1.0),
        cov_drop: float = 0.25,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden)):
            if not isinstance(value, int) or value < 1:
                raise GenofaceError(f"{name} must be a positive integer, got {value!r}")
        for name, (_, sd) in (("age_moments", age_moments), ("bmi_moments", bmi_moments)):
            if not sd > 0:
                raise GenofaceError(f"{name} must be (mean, sd) with sd > 0, got {(age_moments, bmi_moments)}")
        if not 0 <= cov_drop <= 1:
            raise GenofaceError(f"cov_drop must be in [0, 1], got {cov_drop!r}")
        self.dim, self.cov_drop, self.hidden = dim, cov_drop, hidden
        self.register_buffer("age_moments", torch.tensor(age_moments, dtype=torch.get_default_dtype()))
        self.register_buffer("bmi_moments", torch.tensor(bmi_moments, dtype=torch.get_default_dtype()))
        self.null = nn.Parameter(torch.empty(dim))
        # No biases: the "given" flags act as biases when a covariate is present, and the MLP of
        # an all-zero input (nothing given) is exactly zero.
        self.mlp = nn.Sequential(nn.Linear(6, hidden, bias=False), nn.GELU(), nn.Linear(hidden, dim, bias=False))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.null, std=0.02)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def extra_repr(self) -> str:
        return f"dim={self.dim}, cov_drop={self.cov_drop}"

    def features(
        self, age: Tensor | None, is_male: Tensor | None, bmi: Tensor | None, batch_size: int | None = None
    ) -> Tensor:
        """(B, 6) ``[age, sex, bmi] * given`` and ``given`` flags, with training drop applied."""
        given = [x for x in (age, is_male, bmi) if x is not None]
        b = given[0].shape[0] if given else batch_size
        if b is None:
            raise GenofaceError("CovariateEncoder needs batch_size when no covariate is given")
        if any(x.shape != (b,) for x in given):
            raise GenofaceError(f"covariates must all have shape ({b},), got {[tuple(x.shape) for x in given]}")
        device = self.null.device
        nan = torch.full((b,), float("nan"), dtype=self.null.dtype, device=device)
        values = torch.stack(
            [
                ((age if age is not None else nan).to(nan) - self.age_moments[0]) / self.age_moments[1],
                2 * (is_male if is_male is not None else nan).to(nan) - 1,
                ((bmi if bmi is not None else nan).to(nan) - self.bmi_moments[0]) / self.bmi_moments[1],
            ],
            dim=1,
        )
        flags = ~torch.isnan(values)
        if self.training and self.cov_drop > 0:
            keep_all = torch.rand(b, 1, device=device) >= self.cov_drop
            keep_each = torch.rand(b, 3, device=device) >= self.cov_drop
            flags = flags & keep_all & keep_each
        flags_f = flags.to(values.dtype)
        return torch.cat([torch.where(flags, values, 0.0), flags_f], dim=1)

    def forward(
        self,
        age: Tensor | None = None,
        is_male: Tensor | None = None,
        bmi: Tensor | None = None,
        batch_size: int | None = None,
    ) -> Tensor:
        """(B, dim) covariate embedding; the "no covariates" embedding where nothing is given."""
        return self.null + self.mlp(self.features(age, is_male, bmi, batch_size))


class LearnableTemperature(nn.Module):
    """CLIP's learnable logit scale: ``exp(log_scale)``, initialised at 1/0.07 and clamped to
    [1, 100] (CLIP clamps the log-scale to [0, log 100] so training cannot make it explode)."""

    def __init__(self, init_temperature: float = CLIP_INIT_TEMPERATURE, max_scale: float = CLIP_MAX_LOGIT_SCALE):
        super().__init__()
        if not 0 < init_temperature:
            raise GenofaceError(f"init_temperature must be positive, got {init_temperature!r}")
        if not max_scale >= 1:
            raise GenofaceError(f"max_scale must be at least 1, got {max_scale!r}")
        self.init_temperature, self.max_scale = init_temperature, max_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))

    def extra_repr(self) -> str:
        return f"init_temperature={self.init_temperature}, max_scale={self.max_scale}"

    def forward(self) -> Tensor:
        """The current logit scale (a 0-d tensor)."""
        return self.log_scale.clamp(0.0, math.log(self.max_scale)).exp()


def clip_loss(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE (CLIP) over a batch of paired embeddings a[i] <-> b[i], (B, d) each:
    cosine similarities times ``logit_scale``, cross-entropy of each row and each column against
    its diagonal, averaged over both directions."""
    if a.ndim != 2 or a.shape != b.shape:
        raise GenofaceError(f"clip_loss needs two (B, d) embeddings of equal shape, got {a.shape} and {b.shape}")
    logits = logit_scale * F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
