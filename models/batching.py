"""Micro-batching: concurrent requests that arrive within a short window run as one batch.

A `MicroBatcher` sits in front of a synchronous, batch-capable function (for the
`hf:` backend: one batched `model.generate`). Callers `await submit(request)`;
a worker task per event loop collects requests for `window_s` after the first
one arrives (or until `max_batch_size` are waiting), groups them by a
compatibility key (requests whose decoding settings cannot share one
`generate` call get different keys), and runs each group in a single worker
thread so the event loop stays free and batches never overlap on the model.

While a batch is running, new requests queue up; when it finishes the worker
takes everything waiting (up to `max_batch_size`) as the next batch, so under
load the batches grow on their own without a longer window.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


@dataclass
class BatchStats:
    """Counters of what a `MicroBatcher` has done (for benchmarks and tests)."""

    requests: int = 0
    """Requests completed (successfully or not)."""
    batches: int = 0
    """Calls made to the batch function."""
    sizes: list[int] = field(default_factory=list)
    """Size of every batch, in order."""

    @property
    def largest(self) -> int:
        """Size of the largest batch so far (0 before any)."""
        return max(self.sizes, default=0)


@dataclass
class _Pending(Generic[Req, Res]):
    request: Req
    future: asyncio.Future[Res]


class MicroBatcher(Generic[Req, Res]):
    """Collects concurrent requests into batches for a synchronous batch function.

    Args:
        run_batch: called in the worker thread with a list of compatible requests;
            must return one result per request, in order. An exception fails every
            request of that batch.
        window_s: how long to wait after the first request for others to join.
        max_batch_size: most requests in one call of `run_batch`.
        key: maps a request to a hashable compatibility key; only requests with
            equal keys are batched together.
        name: used for the worker thread's name.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Req]], Sequence[Res]],
        *,
        window_s: float = 0.005,
        max_batch_size: int = 32,
        key: Callable[[Req], Hashable] = lambda _r: None,
        name: str = "phalanx-batch",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        self.run_batch = run_batch
        self.window_s = window_s
        self.max_batch_size = max_batch_size
        self.key = key
        self.stats = BatchStats()
        # One thread for every loop: batches on the same model never run at once.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        # A queue and worker per event loop, so a model can be used from several
        # `asyncio.run` calls (tests, sync wrappers) and from a server thread.
        self._workers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Queue[_Pending[Req, Res]], asyncio.Task[None]]
        ] = weakref.WeakKeyDictionary()
        self._closed = False

    async def submit(self, request: Req) -> Res:
        """Queue one request and wait for its result.

        Raises:
            RuntimeError: the batcher was closed.
            Exception: whatever `run_batch` raised for the batch holding this request.
        """
        if self._closed:
            raise RuntimeError("this model was closed (aclose); load it again to use it")
        loop = asyncio.get_running_loop()
        queue = self._queue_for(loop)
        pending: _Pending[Req, Res] = _Pending(request, loop.create_future())
        queue.put_nowait(pending)
        return await pending.future

    def _queue_for(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[_Pending[Req, Res]]:
        entry = self._workers.get(loop)
        if entry is None or entry[1].done():
            queue: asyncio.Queue[_Pending[Req, Res]] = asyncio.Queue()
            task = loop.create_task(self._work(queue), name="phalanx-microbatcher")
            entry = (queue, task)
            self._workers[loop] = entry
        return entry[0]

    async def _work(self, queue: asyncio.Queue[_Pending[Req, Res]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.max_batch_size:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            for group in self._groups(batch):
                await self._run_group(loop, group)

    def _groups(self, batch: list[_Pending[Req, Res]]) -> list[list[_Pending[Req, Res]]]:
        groups: dict[Hashable, list[_Pending[Req, Res]]] = {}
        for item in batch:
            if item.future.cancelled():  # caller gave up before the batch started
                continue
            groups.setdefault(self.key(item.request), []).append(item)
        return list(groups.values())

    async def _run_group(self, loop: asyncio.AbstractEventLoop, group: list[_Pending[Req, Res]]) -> None:
        requests = [item.request for item in group]
        self.stats.batches += 1
        self.stats.sizes.append(len(group))
        self.stats.requests += len(group)
        try:
            results = await loop.run_in_executor(self._executor, self.run_batch, requests)
            if len(results) != len(group):
                raise RuntimeError(
                    f"batch function returned {len(results)} results for {len(group)} requests"
                )
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
            for item in group:
                if not item.future.done():
                    item.future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for item, result in zip(group, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    async def aclose(self) -> None:
        """Stop the workers and the thread; waiting requests fail with `RuntimeError`."""
        self._closed = True
        current = asyncio.get_running_loop()
        for loop, (queue, task) in list(self._workers.items()):
            if loop is current:
                task.cancel()
                while not queue.empty():
                    item = queue.get_nowait()
                    if not item.future.done():
                        item.future.set_exception(RuntimeError("model closed while the request was waiting"))
            elif not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
        self._workers.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
