"""`run_sharded`: a job's records -> shards -> worker actors on every node of a Ray cluster.

Each node gets one `ShardWorker` actor that opens the job's per-node state once (its Docker
sandbox pool, its models) and runs the shards it is given, `work.concurrency` records at a
time, streaming each record's result back as soon as it is known. The driver hands shards
to the nodes with free slots, passes every result to `on_result` once (the job writes it to
its own results file and advances its progress bar there), and when a node is lost puts the
records of its unfinished shards back in the queue for the nodes left: no record is lost,
none is reported twice. A driver that crashes loses nothing either: the job's results file
holds every finished record, and a rerun shards only the records it does not hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from phalanx.agents.sharded.executor import RayExecutor, RayJobError

log = logging.getLogger("phalanx.sharded")


class ShardWork(Protocol):
    """What a sharded job does on a node. Pickled and shipped to every node's worker.

    Contract: `open` runs once per worker before its first record (load models, open the
    sandbox) and raises the job's own errors for bad settings; a node runs `concurrency`
    records at once, whatever number of shards it holds; `run` returns one record's
    result (any picklable value) and raises only for bugs; `key` names a record uniquely
    (the same key the job's results file is indexed by).
    """

    @property
    def concurrency(self) -> int:
        """Records a node runs at once."""
        ...

    def key(self, record: Any) -> str: ...

    async def open(self) -> None: ...

    async def run(self, record: Any) -> Any: ...

    async def close(self) -> None: ...


@dataclass
class ShardStats:
    """What a sharded run did (for logs and tests)."""

    shards: int = 0
    """Shards handed to workers (a shard given back by a lost node and handed out again counts twice)."""
    records: int = 0
    """Records run and reported."""
    workers_lost: int = 0
    """Workers (nodes) lost during the run."""
    records_given_back: int = 0
    """Records of lost workers' unfinished shards, put back in the queue for the others."""


@dataclass(frozen=True)
class ShardEvent:
    """What happened on a node, as the driver saw it (`run_sharded(on_event=...)`: logs, live views, tests).

    Kinds: `dispatched` (a shard handed to `node`; `keys` its records), `record` (one record of
    `node` reported; `keys` holds its key), `node_lost` (`node`'s worker or node died; `keys`
    are the unreported records of the shard it held, given back to the queue).
    """

    kind: Literal["dispatched", "record", "node_lost"]
    node: str
    """Ray node id of the worker."""
    keys: tuple[str, ...] = field(default=())


class ShardWorker:
    """The Ray actor on one node: opens the work once, then runs shards (async: shards overlap)."""

    def __init__(self, work: ShardWork) -> None:
        self.work = work
        self.opened: asyncio.Task | None = None
        # One gate for the node: `concurrency` records at once however many shards it holds.
        self.gate: asyncio.Semaphore | None = None

    async def ready(self) -> None:
        if self.opened is None:
            self.opened = asyncio.ensure_future(self.work.open())
        await self.opened

    async def run_shard(self, records: list[Any]) -> AsyncIterator[tuple[str, Any]]:
        await self.ready()
        if self.gate is None:
            self.gate = asyncio.Semaphore(max(1, self.work.concurrency))
        gate = self.gate

        async def one(record: Any) -> tuple[str, Any]:
            async with gate:
                return self.work.key(record), await self.work.run(record)

        for finished in asyncio.as_completed([one(r) for r in records]):
            yield await finished

    async def close(self) -> None:
        if self.opened is not None and self.opened.done() and self.opened.exception() is None:
            await self.work.close()


async def run_sharded(
    work: ShardWork,
    records: Sequence[Any],
    executor: RayExecutor,
    on_result: Callable[[str, Any], None],
    *,
    done: set[str] | frozenset[str] = frozenset(),
    on_event: Callable[[ShardEvent], None] | None = None,
) -> ShardStats:
    """Run `work` on every record not in `done`, over the cluster's nodes, shard by shard.

    Args:
        work: the job's per-node behaviour (see `ShardWork`).
        records: every record of the job.
        executor: the cluster and shard sizes.
        on_result: called in the driver with `(key, result)` exactly once per record run, as
            results stream in (write it, count it).
        done: keys already finished (read back from the job's results file): not run again.
        on_event: called in the driver with every `ShardEvent` (which node got which shard,
            reported which record, was lost with which records), in the order the driver saw them.

    Returns:
        What was run, and what lost nodes gave back.

    Raises:
        RayJobError: Ray missing, cluster unreachable, or every node lost before the end.
        Exception: what `work.open` raised on a node (bad settings), or a bug in `work.run`.
    """
    todo = [r for r in records if work.key(r) not in done]
    if not todo:
        return ShardStats()
    ray = executor.connect()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(ShardWorker)
    nodes = executor.alive_nodes()
    workers = [
        actor.options(
            num_cpus=executor.num_cpus,
            max_concurrency=executor.shards_per_node + 4,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(work)
        for node in nodes
    ]
    if not workers:
        raise RayJobError("--ray: the cluster has no live node with CPUs")
    try:
        await _start(ray, workers)
        dispatch = _Dispatch(ray, work, todo, executor.shard_size, on_result, on_event)
        await dispatch.run(list(zip(nodes, workers, strict=True)), executor.shards_per_node)
        return dispatch.stats
    finally:
        await asyncio.gather(*(w.close.remote() for w in workers), return_exceptions=True)
        for w in workers:
            ray.kill(w)


async def _start(ray: Any, workers: list[Any]) -> None:
    """Open the work on every node; a bad setting raises the job's own error, as in-process."""
    outcomes = await asyncio.gather(*(w.ready.remote() for w in workers), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, ray.exceptions.RayTaskError):
            cause = getattr(outcome, "cause", None)
            raise cause if isinstance(cause, Exception) else outcome
    if all(isinstance(o, BaseException) for o in outcomes):
        raise RayJobError(f"--ray: no worker could start ({outcomes[0]})")


class _Dispatch:
    """The driver's queue of shards: hands them to live workers, takes them back from lost ones."""

    def __init__(
        self,
        ray: Any,
        work: ShardWork,
        todo: list[Any],
        shard_size: int,
        on_result: Callable[[str, Any], None],
        on_event: Callable[[ShardEvent], None] | None = None,
    ) -> None:
        self.ray, self.work, self.on_result = ray, work, on_result
        self.on_event = on_event or (lambda event: None)
        self.queue = deque(todo[i : i + shard_size] for i in range(0, len(todo), shard_size))
        self.reported: set[str] = set()
        self.running = 0
        self.changed = asyncio.Event()
        self.stats = ShardStats()
        self.lost: set[int] = set()

    async def run(self, workers: list[tuple[str, Any]], slots: int) -> None:
        lanes = [asyncio.ensure_future(self._lane(n, w)) for n, w in workers for _ in range(slots)]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()
        if self.queue:
            left = sum(len(shard) for shard in self.queue)
            raise RayJobError(
                f"--ray: every node was lost; {left} records not run (finished ones are written: "
                "rerun the same command to resume)"
            )

    async def _lane(self, node: str, worker: Any) -> None:
        """One slot of one worker: take shards until none are queued or running elsewhere."""
        # The worker died, or its node did, taking results stored there with it; or the node died
        # between the listing of live nodes and the worker's placement there (unschedulable).
        lost = (
            self.ray.exceptions.RayActorError,
            self.ray.exceptions.ObjectLostError,
            self.ray.exceptions.ActorUnschedulableError,
        )
        while self.queue or self.running:
            if not self.queue:  # a shard still running elsewhere may come back if its node dies
                self.changed.clear()
                await self.changed.wait()
                continue
            shard = self.queue.popleft()
            self.running += 1
            self.stats.shards += 1
            self.on_event(ShardEvent("dispatched", node, tuple(self.work.key(r) for r in shard)))
            try:
                async for ref in worker.run_shard.remote(shard):
                    key, result = await ref
                    if key not in self.reported:
                        self.reported.add(key)
                        self.stats.records += 1
                        self.on_result(key, result)
                        self.on_event(ShardEvent("record", node, (key,)))
            except lost:
                # The node (or its worker) is gone: what it had not reported goes back to the queue.
                left = [r for r in shard if self.work.key(r) not in self.reported]
                if left:
                    self.queue.append(left)
                    self.stats.records_given_back += len(left)
                if id(worker) not in self.lost:
                    self.lost.add(id(worker))
                    self.stats.workers_lost += 1
                log.warning(
                    "ray node %s lost: %d unfinished records go to the nodes left", node[:12], len(left)
                )
                self.on_event(ShardEvent("node_lost", node, tuple(self.work.key(r) for r in left)))
                return
            except self.ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                raise cause if isinstance(cause, Exception) else exc from None
            finally:
                self.running -= 1
                self.changed.set()
