"""Training the part encoders with the triplet loss (and the part PCAs of the ablation without it).

An epoch visits the training people in a random order, in full batches; each batch's loss is
the triplet loss (:func:`._network.triplet_loss`) over the demographic attributes and
``snp_triplets`` SNPs drawn at random, summed over the parts. After every epoch a checkpoint
(network, optimizer and both random streams) is written when ``checkpoint_dir`` is set, and an
interrupted fit of the same data and parameters resumes from it exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from genoface.core.errors import GenofaceError
from genoface.models._checkpoint import fit_fingerprint, read_checkpoint, write_checkpoint
from genoface.models.mahdi._network import PartNetwork, triplet_loss
from genoface.models.mahdi._parts import FacialParts

Progress = Callable[[str, int, int], None]


class EncoderTraining:
    """The part network of a ``mahdi`` model (its parameters), built, trained or loaded."""

    def __init__(self, model: Any, template_vertices: np.ndarray, template_triangles: np.ndarray, parts: FacialParts):
        self.model = model
        self.template = (np.asarray(template_vertices, dtype=np.float64), np.asarray(template_triangles, np.int64))
        self.parts = parts

    def build(self) -> PartNetwork:
        m = self.model
        return PartNetwork(
            *self.template,
            self.parts.members,
            channels=tuple(int(c) for c in m.channels),
            embed_dim=int(m.embed_dim),
            spiral_length=int(m.spiral_length),
        ).to(m.device)

    def load(self, state: dict[str, np.ndarray]) -> PartNetwork:
        net = self.build()
        try:
            net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        except RuntimeError as exc:
            raise GenofaceError(
                f"mahdi encoders do not fit the stored configuration ({exc}); retrain the model"
            ) from None
        return net.eval()

    def fit(
        self, cohort_hash: str, faces: np.ndarray, labels: dict[str, np.ndarray], rows: np.ndarray, progress: Progress
    ) -> tuple[PartNetwork, dict[str, list[float]]]:
        """Train on the people ``rows`` of ``faces`` (n, V, 3) mm; returns the network and the loss per epoch."""
        m = self.model
        torch.manual_seed(int(m.random_state))
        rng = np.random.default_rng(int(m.random_state))
        net = self.build()
        x = torch.as_tensor(faces[rows], dtype=torch.float32)
        net.mean.copy_(x.mean(0))
        net.scale.fill_(float((x - net.mean).std()))
        demographic = [v[rows] for k, v in labels.items() if k != "snps"]
        demo = torch.as_tensor(np.concatenate(demographic, axis=1) if demographic else np.zeros((len(rows), 0), int))
        snps = torch.as_tensor(labels["snps"][rows])
        optimizer = torch.optim.Adam(net.parameters(), lr=float(m.learning_rate))
        fingerprint = fit_fingerprint(cohort_hash, m.get_params())
        history: dict[str, list[float]] = {"triplet": []}
        start = self._resume(read_checkpoint(m.checkpoint_dir, fingerprint, m.device, m.name), net, optimizer, rng)
        if start:
            history = start[1]
        epochs = self.epochs(len(rows))
        for epoch in range(start[0] if start else 0, epochs):
            net.train()
            losses = [
                self._step(net, optimizer, x[batch], demo[batch], snps[batch], rng)
                for batch in self._batches(len(rows), rng)
            ]
            history["triplet"].append(float(np.mean(losses)))
            if m.checkpoint_dir:
                write_checkpoint(m.checkpoint_dir, _state(fingerprint, epoch + 1, net, optimizer, rng, history))
            progress("mahdi: part encoders", epoch + 1, epochs)
        return net.eval(), history

    def epochs(self, n: int) -> int:
        """``epochs``, capped so that training takes at most ``max_steps`` optimizer steps."""
        m = self.model
        per_epoch = max(1, n // int(m.batch_size))
        return int(m.epochs) if m.max_steps is None else max(1, min(int(m.epochs), -(-int(m.max_steps) // per_epoch)))

    def _batches(self, n: int, rng: np.random.Generator) -> list[torch.Tensor]:
        order = rng.permutation(n)
        size = min(int(self.model.batch_size), n)
        return [torch.as_tensor(order[i : i + size]) for i in range(0, n - size + 1, size)]

    def _step(self, net, optimizer, x, demo, snps, rng: np.random.Generator) -> float:
        """One optimizer step on a batch: the demographic attributes and ``snp_triplets`` random SNPs."""
        k = min(int(self.model.snp_triplets), snps.shape[1])
        chosen = torch.as_tensor(np.sort(rng.choice(snps.shape[1], size=k, replace=False)))
        labels = torch.cat([demo, snps[:, chosen]], dim=1).T
        loss = triplet_loss(net(x.to(self.model.device)), labels.to(self.model.device), float(self.model.margin))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    @staticmethod
    def _resume(state: dict, net, optimizer, rng: np.random.Generator) -> tuple[int, dict] | None:
        """Load an interrupted fit's checkpoint; (its next epoch, its history), or None."""
        if not state:
            return None
        net.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        return int(state["epoch"]), json.loads(state["history"])


def _state(fingerprint: str, epoch: int, net, optimizer, rng: np.random.Generator, history: dict) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "network": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "history": json.dumps(history),
    }


def part_shape_features(part_pcas: list, parts: FacialParts, faces: np.ndarray) -> np.ndarray:
    """(n, P, D) whitened shape PCA scores of each part (zero-padded to the largest PCA's D)."""
    width = max(p.components_.shape[0] for p in part_pcas)
    out = np.zeros((len(faces), parts.n_parts, width))
    for p, (pca, members) in enumerate(zip(part_pcas, parts.members, strict=True)):
        scores = pca.transform(np.asarray(faces)[:, members])
        out[:, p, : scores.shape[1]] = scores / np.sqrt(pca.explained_variance_)
    return out
