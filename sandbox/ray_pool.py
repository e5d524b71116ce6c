"""`RaySandbox` (`open_sandbox("ray", ...)`): executions spread over one sandbox pool per Ray node.

Each live node of the cluster gets one `NodePool` actor that owns that node's sandbox (by
default a Docker warm pool of `slots_per_node` containers). An execution goes to the node
with the most free slots and waits when every slot is busy; if its node is lost before it
returns, it runs again on another node, so every `execute` call returns exactly one result.
Ray is an optional extra (`pip install 'phalanx[ray]'`), imported only when this backend opens.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from phalanx.sandbox.base import open_sandbox, register_sandbox
from phalanx.sandbox.errors import SandboxConfigError, SandboxUnavailable
from phalanx.sandbox.types import ExecRequest, ExecResult


class NodePool:
    """The Ray actor on one node: that node's sandbox, opened once."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        # An open error is kept and raised by `ready`, so the caller sees SandboxUnavailable itself.
        self.error: Exception | None = None
        self.sandbox: Any = None
        try:
            self.sandbox = open_sandbox(backend, **options)
        except Exception as exc:  # noqa: BLE001 - surfaced by ready()
            self.error = exc

    def ready(self) -> str:
        if self.error is not None:
            raise self.error
        import ray

        return str(ray.get_runtime_context().get_node_id())

    async def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        result = await self.sandbox.execute(ExecRequest.model_validate(request))
        return result.model_dump(mode="json")

    async def aclose(self) -> None:
        if self.sandbox is not None:
            await self.sandbox.aclose()


@register_sandbox("ray")
class RaySandbox:
    """A `Sandbox` whose executions run on the nodes of a Ray cluster, one sandbox pool per node.

    Args:
        backend: the sandbox each node opens (`docker`; `local` for development).
        slots_per_node: executions at once per node (the node's `pool_size`).
        address: `HOST:PORT` of the cluster's head; None joins the cluster this process is
            connected to, else `RAY_ADDRESS`, else starts a local one.
        **options: passed to the node's backend (`image`, `memory_mb`, ...).

    Raises:
        SandboxUnavailable: Ray missing, cluster unreachable, no live node, or a node's sandbox
            could not open (its own message says why).
    """

    name = "ray"

    def __init__(
        self, backend: str = "docker", *, slots_per_node: int = 4, address: str | None = None, **options: Any
    ) -> None:
        if slots_per_node < 1:
            raise SandboxConfigError(f"ray sandbox: slots_per_node must be >= 1, got {slots_per_node}")
        ray = _connect(address)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")]
        if not nodes:
            raise SandboxUnavailable("ray sandbox: the cluster has no live node with CPUs")
        actor = ray.remote(NodePool)
        self._ray = ray
        self._pools = [
            actor.options(
                num_cpus=0,
                max_concurrency=slots_per_node + 4,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            ).remote(backend, {**options, "pool_size": slots_per_node})
            for node in nodes
        ]
        try:
            self.nodes: list[str] = ray.get([p.ready.remote() for p in self._pools])
            """The Ray node id of each pool."""
        except ray.exceptions.RayTaskError as exc:
            self._kill()
            cause = getattr(exc, "cause", None)
            raise cause if isinstance(cause, Exception) else SandboxUnavailable(str(exc)) from None
        self.slots = slots_per_node
        self._busy = [0] * len(self._pools)
        self._alive = [True] * len(self._pools)
        self._freed = asyncio.Condition()
        self.executions_per_node = [0] * len(self._pools)
        """Executions each node returned (how the work was spread)."""
        self.retried = 0
        """Executions that ran again elsewhere because their node was lost."""

    async def _acquire(self) -> int:
        async with self._freed:
            while True:
                alive = [i for i, ok in enumerate(self._alive) if ok]
                if not alive:
                    raise SandboxUnavailable("ray sandbox: every node was lost; restart the cluster's nodes")
                i = min(alive, key=lambda j: self._busy[j])
                if self._busy[i] < self.slots:
                    self._busy[i] += 1
                    return i
                await self._freed.wait()

    async def _release(self, i: int) -> None:
        async with self._freed:
            self._busy[i] -= 1
            self._freed.notify_all()

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run `request` on the node with the most free slots (again elsewhere if that node is lost)."""
        payload = request.model_dump(mode="json")
        while True:
            i = await self._acquire()
            try:
                result = ExecResult.model_validate(await self._pools[i].execute.remote(payload))
            except self._ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                raise cause if isinstance(cause, Exception) else SandboxUnavailable(str(exc)) from None
            except (self._ray.exceptions.RayActorError, self._ray.exceptions.ObjectLostError):
                self._alive[i] = False  # the node (or its pool) is gone: run it on another
                self.retried += 1
                continue
            finally:
                await self._release(i)
            self.executions_per_node[i] += 1
            return result

    def _kill(self) -> None:
        for pool in self._pools:
            self._ray.kill(pool)

    async def aclose(self) -> None:
        """Close every node's sandbox and end the pool actors (idempotent)."""
        alive = [p for p, ok in zip(self._pools, getattr(self, "_alive", []), strict=False) if ok]
        await asyncio.gather(*(p.aclose.remote() for p in alive), return_exceptions=True)
        self._kill()
        self._alive = [False] * len(self._pools)


def _connect(address: str | None) -> Any:
    """Join the Ray cluster once per process (SandboxUnavailable with what to do if impossible)."""
    try:
        import ray
    except ImportError:
        raise SandboxUnavailable(
            "ray sandbox: Ray is not installed; install the extra with `pip install 'phalanx[ray]'`"
        ) from None
    host, sep, port = (address or "").rpartition(":")
    if sep and port.isdigit() and "/" not in host:
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            raise SandboxUnavailable(
                f"ray sandbox: no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                "`ray start --head` or fix the address"
            ) from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray
