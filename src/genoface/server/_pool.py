"""Model work off the event loop, in a bounded pool: a slow prediction holds one worker, not the
server, and a request that finds every worker busy and the queue full is refused at once (503)
rather than left waiting."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from genoface.core.errors import GenofaceError

T = TypeVar("T")


class ServerBusy(GenofaceError):
    """Every worker is busy and the queue is full (HTTP 503)."""


class WorkerPool:
    """``workers`` threads (NumPy, SciPy and PyTorch release the GIL in their kernels) and at
    most ``queue`` requests waiting for one."""

    def __init__(self, workers: int, queue: int):
        if workers < 1 or queue < 0:
            raise GenofaceError(
                f"the server needs at least 1 worker and a queue of 0 or more, got {workers} and {queue}"
            )
        self.workers, self.queue = int(workers), int(queue)
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="genoface-work")
        self._slots = threading.BoundedSemaphore(self.workers + self.queue)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._slots.acquire(blocking=False):
            raise ServerBusy(
                f"the server is busy ({self.workers} requests running, {self.queue} waiting); try again shortly"
            )
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        finally:
            self._slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
