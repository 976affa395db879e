"""Data-parallel training of ``difface`` with torch.distributed (DDP).

Every rank holds the whole network and the training people; each mini-batch (the same rows on
every rank: one shared permutation per epoch) is split into equal consecutive shares, one per
rank. Each rank runs its share through the network wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients. The terms of
the loss that need the whole batch (the CLIP loss's negatives, the latent's variance) see every
rank's share through an all-gather that carries gradients, so the effective batch, and the loss
curve, are one process's. Backend: gloo on the CPU, NCCL on CUDA (one GPU per rank).

Two ways in: :func:`train_in_processes` spawns the ranks itself (``DiffaceModel(processes=N)``),
and :func:`torchrun_group` joins the ranks that ``torchrun`` started (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT in the environment).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import pickle
import queue
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from genoface.core.errors import GenofaceError

Progress = Callable[[str, int, int], None]


class Ranks:
    """The process group as one rank sees it; ``Ranks()`` is a single process (no collectives)."""

    def __init__(self, rank: int = 0, world: int = 1, device_ids: list[int] | None = None) -> None:
        self.rank, self.world, self.device_ids = int(rank), int(world), device_ids

    @property
    def primary(self) -> bool:
        """Rank 0: the one that writes checkpoints and reports progress."""
        return self.rank == 0

    def share(self, rows: np.ndarray) -> np.ndarray:
        """This rank's consecutive share of a batch's rows (equal shares: batch_size % world == 0)."""
        return rows if self.world == 1 else np.array_split(rows, self.world)[self.rank]

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """(B / world, ...) on each rank -> (B, ...), the shares in rank order, i.e. in the batch's
        row order. Gradients flow back to each rank's share (summed over the ranks, which DDP's
        average of the gradients turns back into the gradient of the whole batch's loss)."""
        return x if self.world == 1 else _GatherShares.apply(x)

    def mean(self, values: list[float]) -> list[float]:
        """The ranks' mean of each value (per-epoch sums of per-share losses -> whole-batch ones)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return (t / self.world).tolist()

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` wrapped in DDP (its buffers are the same on every rank and never change in
        training, so they are not broadcast at every step)."""
        if self.world == 1:
            return module
        ddp = nn.parallel.DistributedDataParallel
        no_sync = (
            "forward_sync_buffers"
            if "forward_sync_buffers" in inspect.signature(ddp).parameters
            else "broadcast_buffers"
        )
        return ddp(module, device_ids=self.device_ids, **{no_sync: False})

    def seed_epoch(self, seed: int, stage: int, epoch: int) -> None:
        """With several ranks, each draws its drops and diffusion noise from its own torch stream,
        seeded from (seed, rank, stage, epoch): reproducible, and a resumed fit goes on exactly.
        One process keeps the single stream seeded once by ``fit`` (as before DDP existed)."""
        if self.world > 1:
            state = np.random.SeedSequence([int(seed), self.rank, int(stage), int(epoch)]).generate_state(2)
            torch.manual_seed(int(state[0]) << 32 | int(state[1]))


class _GatherShares(torch.autograd.Function):
    """All-gather along the batch with a gradient: backward sums the gathered tensor's gradient
    over the ranks and hands each rank its share's rows (a reduce-scatter made of an all-reduce,
    which gloo has; the shares are small: a batch of embeddings)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        shares = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(shares, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(shares)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


class TrainStep(nn.Module):
    """A stage's forward pass as a module, so that DDP can wrap it: ``trained`` are the modules
    the stage optimizes (the only parameters DDP synchronizes), ``fn(net, *inputs)`` the pass
    over the whole network ``net`` (kept outside the module tree: its frozen parts are not DDP's)."""

    def __init__(self, net: nn.Module, trained: list[nn.Module], fn: Callable[..., Any]) -> None:
        super().__init__()
        self.trained = nn.ModuleList(trained)
        self.__dict__["net"] = net  # not a submodule
        self.fn = fn

    def forward(self, *inputs: Any) -> Any:
        return self.fn(self.net, *inputs)


# ---- launching -----------------------------------------------------------------------------------


def check_processes(processes: int, batch_size: int, device: str) -> None:
    """A clear error for a number of processes that cannot train."""
    if not isinstance(processes, int | np.integer) or isinstance(processes, bool) or processes < 1:
        raise GenofaceError(f"processes must be a positive integer, got {processes!r}")
    if processes > 1:
        if not dist.is_available() or not (dist.is_nccl_available() if _cuda(device) else dist.is_gloo_available()):
            raise GenofaceError(
                f"processes={processes}: this torch build has no torch.distributed backend for {device}"
            )
        if int(batch_size) % processes:
            raise GenofaceError(f"batch_size ({batch_size}) must be a multiple of processes ({processes})")
        if _cuda(device) and str(device) != "cuda":
            raise GenofaceError(
                f"processes={processes}: give device='cuda', not {device!r} (each process takes its GPU)"
            )
        if _cuda(device) and processes > torch.cuda.device_count():
            raise GenofaceError(
                f"processes={processes} on {device} needs one GPU each; {torch.cuda.device_count()} seen"
            )


def train_in_processes(model, data, rng: np.random.Generator, state: dict, progress: Progress) -> dict:
    """Train ``model`` (a DiffaceModel prepared by ``fit``) on ``model.processes`` spawned ranks;
    returns rank 0's fitted ``{"network": state_dict, "history": json}``. The ranks share the
    training tensors ``data`` (read only, in torch's shared memory) and split torch's threads among
    them; rank 0 relays its progress here."""
    world = int(model.processes)
    threads = max(1, torch.get_num_threads() // world)
    messages = mp.get_context("spawn").SimpleQueue()
    with tempfile.TemporaryDirectory(prefix="genoface-ddp-") as tmp:
        result = str(Path(tmp) / "fitted.pt")
        # Each rank updates its own copy of the network and optimizer state (plain pickle: torch
        # would otherwise put them in memory the ranks share, and every step would apply twice),
        # read from a file: megabytes sent down the spawn pipe would start the ranks one by one.
        private = Path(tmp) / "model.pkl"
        private.write_bytes(pickle.dumps((model, rng, state)))
        args = (world, _free_port(), str(private), data, threads, messages, result)
        ranks = mp.start_processes(_rank_main, args=args, nprocs=world, join=False, start_method="spawn")
        try:
            while not ranks.join(timeout=0.2):  # a failed rank: the others are ended, its error raised
                _relay(messages, progress)
            _relay(messages, progress)
        except BaseException:  # an interrupt here, or a progress callback that raised
            for process in ranks.processes:
                if process.is_alive():
                    process.terminate()
            raise
        return torch.load(result, map_location="cpu", weights_only=True)


def _rank_main(rank, world, port, private, data, threads, messages, result) -> None:
    """One spawned rank: join the group on 127.0.0.1:port, train, rank 0 writes the result."""
    model, rng, state = pickle.loads(Path(private).read_bytes())  # noqa: S301 - written by our parent
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    with _group(model.device, rank, world, rank) as ranks:
        model.net_.to(model.device)
        report = (lambda stage, done, total: messages.put((stage, done, total))) if ranks.primary else _quiet
        model._train_stages(data, rng, state, report, ranks)
        if ranks.primary:
            network = {k: v.detach().cpu() for k, v in model.net_.state_dict().items()}
            torch.save({"network": network, "history": json.dumps(model.history_)}, result)
    # Done: leave at once. A rank's interpreter teardown (torch, dask, some 3,000 modules) took
    # 2.5 s on 2 loaded cores, longer than training a small cohort; nothing is left to clean up.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def torchrun_ranks() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when ``torchrun`` started this process with several ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world < 2 or "RANK" not in os.environ:
        return None
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))


@contextlib.contextmanager
def torchrun_group(device: str) -> Iterator[Ranks]:
    """This process's rank among those ``torchrun`` started (the group is joined here unless the
    caller already did, and left afterwards only if joined here)."""
    rank, world, local = torchrun_ranks() or (0, 1, 0)
    if dist.is_initialized():
        yield Ranks(dist.get_rank(), dist.get_world_size(), [local] if _cuda(device) else None)
        return
    with _group(device, rank, world, local) as ranks:
        yield ranks


@contextlib.contextmanager
def _group(device: str, rank: int, world: int, local_rank: int) -> Iterator[Ranks]:
    """Join the group (env:// rendezvous), one GPU per rank on CUDA; leave it on the way out."""
    cuda = _cuda(device)
    if cuda:
        torch.cuda.set_device(local_rank)  # "cuda" now names this rank's GPU
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    try:
        yield Ranks(rank, world, [local_rank] if cuda else None)
    finally:
        dist.destroy_process_group()


def _relay(messages, progress: Progress) -> None:
    with contextlib.suppress(queue.Empty, EOFError):
        while not messages.empty():
            progress(*messages.get())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def _quiet(stage: str, done: int, total: int) -> None:
    pass
