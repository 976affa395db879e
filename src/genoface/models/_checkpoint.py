"""Training checkpoints of the neural models (``difface``, ``mahdi``): one file per fit, written
atomically after every epoch, read back only by a fit of the same data and parameters.

A checkpoint is a ``torch.save`` of plain tensors, numbers and strings, loaded with
``weights_only=True``: reading one cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from genoface.core.files import atomic_stream

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
#: Parameters that say where a fit runs, not what it computes: a checkpoint resumes across them.
_WHERE = ("checkpoint_dir", "device", "processes")


def fit_fingerprint(cohort_hash: str, params: dict[str, Any]) -> str:
    """What a checkpoint must match to be resumed: the training data and the parameters."""
    what = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items() if k not in _WHERE}
    return hashlib.sha256(json.dumps([cohort_hash, what], sort_keys=True, default=str).encode()).hexdigest()


def read_checkpoint(directory: str | None, fingerprint: str, device: str, model: str) -> dict[str, Any]:
    """The checkpoint in ``directory`` if it is of this fit (``fingerprint``), else {} (a missing,
    unreadable or foreign checkpoint is said and the fit starts afresh)."""
    if not directory:
        return {}
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return {}
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: say which and start afresh
        log.warning("%s: unreadable checkpoint (%s); training %s from the start", path, exc, model)
        return {}
    if state.get("fingerprint") != fingerprint:
        log.warning("%s: checkpoint of other data or parameters; training %s from the start", path, model)
        return {}
    log.info("resuming %s from %s (epoch %d)", model, path, state["epoch"])
    return state


def write_checkpoint(directory: str, state: dict[str, Any]) -> None:
    """Write ``state`` (with its ``fingerprint``) as the checkpoint of ``directory``, atomically."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    with atomic_stream(path / CHECKPOINT_FILE) as fh:
        torch.save(state, fh)
