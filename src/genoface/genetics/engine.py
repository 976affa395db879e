"""Where genotype computations run: Dask.

Every pass over a genotype matrix (QC, frequencies, the ancestry PCA's passes, the GWAS) is a
function of one block of consecutive variants for all people. :func:`map_variant_blocks` makes
each block a Dask task (its read included, so a lazy cohort's store is read by whichever worker
runs it) and computes them on the active scheduler; the results come back in variant order, so
they are the same numbers whatever the scheduler or the number of workers.

:func:`use_scheduler` chooses the scheduler, as ``genoface --scheduler`` does:

- ``threads`` (the default): Dask's threaded scheduler in this process;
- ``synchronous``: one block after another in this thread (for debugging and profiling);
- ``distributed``: a ``dask.distributed.LocalCluster`` on this machine, started and closed here;
- an address (``tcp://host:8786``, ``host:8786``): an existing Dask cluster's scheduler, such
  as one started by dask-jobqueue on SLURM or by the Dask Kubernetes operator. Its workers must
  see the same files (the cohort's store) at the same paths.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from genoface.core.errors import GenofaceError

#: Genotype calls in one block at most (16 MB as int8, 128 MB as float64): blocks narrow as the
#: cohort grows, so a pass's memory stays flat in the number of people.
CALLS_PER_BLOCK = 1 << 24
#: The schedulers :func:`use_scheduler` knows by name (anything else is a cluster's address).
SCHEDULERS = ("threads", "synchronous", "distributed")

BlockFunction = Callable[[int, int, np.ndarray], Any]


@contextlib.contextmanager
def use_scheduler(spec: str | None = "threads", *, n_workers: int | None = None) -> Iterator[None]:
    """Run the Dask computations inside the block on the scheduler ``spec`` (module notes).
    ``n_workers``: the LocalCluster's worker processes for ``distributed`` (default: Dask's
    choice for this machine)."""
    import dask

    spec = spec or "threads"
    if spec in ("threads", "synchronous"):
        with dask.config.set(scheduler=spec):
            yield
        return
    from distributed import Client, LocalCluster

    if spec == "distributed":
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None) as cluster:
            with Client(cluster):
                yield
        return
    if "://" not in spec and ":" not in spec:
        raise GenofaceError(
            f"unknown scheduler {spec!r}; use one of {', '.join(SCHEDULERS)} or a Dask scheduler address (tcp://host:8786)"
        )
    try:
        client = Client(spec if "://" in spec else f"tcp://{spec}", timeout="20s")
    except (OSError, TimeoutError) as e:
        raise GenofaceError(
            f"cannot reach the Dask scheduler at {spec} ({e}); check the address and that it runs"
        ) from None
    with client:
        yield


def block_width(n_samples: int, chunk: int) -> int:
    """Variants per block: ``chunk``, narrowed to at most ``CALLS_PER_BLOCK`` calls."""
    return max(1, min(int(chunk), CALLS_PER_BLOCK // max(n_samples, 1)))


def as_dask(genotypes: Any, chunk: int) -> Any:
    """A (samples, variants) Dask array over a NumPy matrix, a memory map or a lazy cohort's
    :class:`~genoface.io.StoredDosages` (whose own chunks are kept: one task reads one chunk)."""
    import dask.array as da

    if isinstance(genotypes, da.Array):
        return genotypes
    if hasattr(genotypes, "to_dask"):
        return genotypes.to_dask()
    # name=False: a random name instead of hashing the whole matrix to make one.
    return da.from_array(genotypes, chunks=(genotypes.shape[0], block_width(genotypes.shape[0], chunk)), name=False)


def map_variant_blocks(fn: BlockFunction, genotypes: Any, chunk: int, columns: np.ndarray | None = None) -> list[Any]:
    """``[fn(j0, j1, block) ...]`` over blocks of consecutive variants (of ``columns``, sorted
    positions, when given), in order, each block (samples, j1 - j0) int8, computed as Dask tasks
    on the active scheduler (:func:`use_scheduler`)."""
    import dask

    return list(dask.compute(*_block_tasks(fn, genotypes, chunk, columns)))


def sum_variant_blocks(fn: BlockFunction, genotypes: Any, chunk: int, columns: np.ndarray | None = None) -> Any:
    """``fn(j0, j1, block)`` summed over the blocks of :func:`map_variant_blocks` (arrays, or
    tuples of them added element by element), added pairwise inside the Dask graph: each
    partial sum is freed once added, so a few are alive at a time, not one per block. (Blocks
    narrow as people grow, so a list of (people, k) results would grow as the square of the
    people: 2 GB for the PCA's products at 100,000 people.) The tree is fixed by the blocks, so
    the sum is the same whatever the scheduler."""
    import dask

    tasks = _block_tasks(fn, genotypes, chunk, columns)
    while len(tasks) > 1:
        pairs = [dask.delayed(_add)(a, b) for a, b in zip(tasks[::2], tasks[1::2], strict=False)]
        tasks = pairs + tasks[len(pairs) * 2 :]
    return dask.compute(tasks[0])[0]


def _add(a: Any, b: Any) -> Any:
    return tuple(x + y for x, y in zip(a, b, strict=True)) if isinstance(a, tuple) else a + b


def _block_tasks(fn: BlockFunction, genotypes: Any, chunk: int, columns: np.ndarray | None) -> list[Any]:
    """One delayed ``fn(j0, j1, block)`` per block of consecutive variants, in order."""
    import dask

    matrix = as_dask(genotypes, chunk)
    width = block_width(matrix.shape[0], chunk)
    if columns is not None:
        matrix = matrix[:, np.asarray(columns)]
    if columns is not None or max(matrix.chunks[1], default=0) > width:
        matrix = matrix.rechunk((matrix.chunks[0], width))
    tasks, j0 = [], 0
    for col, width in enumerate(matrix.chunks[1]):
        parts = [matrix.blocks[row, col] for row in range(matrix.numblocks[0])]
        block = parts[0] if len(parts) == 1 else dask.array.concatenate(parts, axis=0)
        tasks.append(dask.delayed(_apply)(fn, j0, j0 + width, block))
        j0 += width
    return tasks


def _apply(fn: BlockFunction, j0: int, j1: int, block: np.ndarray) -> Any:
    return fn(j0, j1, np.asarray(block, dtype=np.int8))
