"""`DockerSandbox`: the default backend, a warm pool of hardened containers each running the runner."""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import os
import threading
import uuid
import weakref
from typing import Any

from phalanx.sandbox.base import register_sandbox
from phalanx.sandbox.docker.client import connect
from phalanx.sandbox.docker.container import (
    ContainerConfig,
    SandboxContainer,
    SocketTransportUnusable,
    owner_labels,
)
from phalanx.sandbox.docker.image import resolve_image
from phalanx.sandbox.docker.pool import WarmPool
from phalanx.sandbox.errors import SandboxConfigError, SandboxLost, SandboxUnavailable
from phalanx.sandbox.gc import reap_orphans
from phalanx.sandbox.server.protocol import RunnerRefused
from phalanx.sandbox.types import ExecRequest, ExecResult

DEFAULT_PRELOAD: tuple[str, ...] = (
    "collections",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "math",
    "re",
    "typing",
)
SCIENTIFIC_PRELOAD: tuple[str, ...] = ("numpy", "scipy")
ATTEMPTS = 3
"""Tries of one request when the infrastructure fails it (nothing ran, or its container died)."""
RETRY_PAUSE_S = 0.5
"""Pause before retrying after a container failed to start (times the attempt number)."""
_OPEN: weakref.WeakSet[DockerSandbox] = weakref.WeakSet()
_REAPED_AT_START = threading.Event()


@register_sandbox("docker")
class DockerSandbox:
    """Runs each program in a fresh forked process inside a warm, network-less container.

    Args:
        image: recipe name (`default`, `scientific`) or any local image with python3 >= 3.8.
        pool_size: containers kept warm (executions run concurrently up to this many).
        max_uses: executions per container before it is replaced (any limit hit replaces it at once).
        memory_mb: cgroup memory limit per container (per-execution limits come with each request).
        cpus: CPU cap per container (CFS quota).
        cpu_shares: CPU weight per container under contention (docker's default is 1024; higher keeps
            latency low on a busy host while `cpus` still caps each container).
        pids_limit: cgroup process limit per container.
        work_size_mb: size of the tmpfs work dir.
        tmp_size_mb: size of /tmp and /dev/shm.
        runtime: OCI runtime passed to docker, e.g. `runsc` for gVisor.
        transport: how the host talks to each runner: `socket` (a bind-mounted unix socket; needs a
            daemon on this machine), `attach` (the container's stdin/stdout through the daemon), or
            `auto` (socket when DOCKER_HOST is a local unix socket, else attach).
        preload: modules each runner imports once at start, so every forked program finds them
            already loaded (a fresh process still; its changes to them stay its own). Default: a few
            common stdlib modules, plus numpy and scipy for the `scientific` image (importing numpy
            costs ~1 s per execution otherwise). Missing modules are skipped.
        acquire_timeout_s: longest wait for a free container before `SandboxUnavailable`.
        max_waiters: callers allowed to wait at once (more are refused at once).
        docker_host: daemon address; default from DOCKER_HOST.
        reap_orphans: remove containers left by crashed phalanx processes when the pool starts.

    Raises:
        SandboxUnavailable: no daemon, or the recipe image is not built yet.
        SandboxConfigError: bad option or unknown image.
    """

    name = "docker"

    def __init__(
        self,
        image: str = "default",
        *,
        pool_size: int = 2,
        max_uses: int = 200,
        memory_mb: int = 1024,
        cpus: float = 1.0,
        cpu_shares: int = 4096,
        pids_limit: int = 256,
        work_size_mb: int = 64,
        tmp_size_mb: int = 16,
        runtime: str | None = None,
        transport: str = "auto",
        preload: tuple[str, ...] | list[str] | None = None,
        acquire_timeout_s: float = 120.0,
        max_waiters: int = 1024,
        docker_host: str | None = None,
        reap_orphans: bool = True,
    ) -> None:
        _check_range("pool_size", pool_size, 1, 256)
        _check_range("max_uses", max_uses, 1, 1_000_000)
        _check_range("memory_mb", memory_mb, 64, 1 << 20)
        _check_range("cpus", cpus, 0.01, 1024)
        _check_range("cpu_shares", cpu_shares, 2, 262_144)
        _check_range("pids_limit", pids_limit, 8, 1 << 20)
        _check_range("work_size_mb", work_size_mb, 1, 1 << 20)
        _check_range("tmp_size_mb", tmp_size_mb, 1, 1 << 20)
        _check_range("acquire_timeout_s", acquire_timeout_s, 0.001, 86_400)
        _check_range("max_waiters", max_waiters, 0, 1 << 20)
        if transport not in ("auto", "socket", "attach"):
            raise SandboxConfigError(f"transport={transport!r} is unknown; use auto, socket or attach")
        self._auto_transport = transport == "auto"
        if transport == "auto":
            host = docker_host or os.environ.get("DOCKER_HOST") or "unix://"
            transport = "socket" if host.startswith("unix://") else "attach"
        self.image = image
        if preload is None:
            preload = DEFAULT_PRELOAD + (SCIENTIFIC_PRELOAD if image == "scientific" else ())
        self._client = connect(docker_host, pool_connections=pool_size + 8)
        self.image_ref = resolve_image(self._client, image)
        self.pool_id = uuid.uuid4().hex[:12]
        self.config = ContainerConfig(
            image_ref=self.image_ref,
            image_name=image,
            memory_mb=memory_mb,
            cpus=cpus,
            cpu_shares=cpu_shares,
            pids_limit=pids_limit,
            work_size_mb=work_size_mb,
            tmp_size_mb=tmp_size_mb,
            runtime=runtime,
            transport=transport,
            preload=tuple(preload),
            labels=owner_labels(self.pool_id),
        )
        self._reap = reap_orphans
        self.lost = 0
        """Executions whose container died under them (each retried on a fresh container)."""
        self.pool: WarmPool[SandboxContainer] = WarmPool(
            self._new_container,
            size=pool_size,
            max_uses=max_uses,
            acquire_timeout_s=acquire_timeout_s,
            max_waiters=max_waiters,
        )
        _OPEN.add(self)

    def _new_container(self) -> SandboxContainer:
        if self._reap and not _REAPED_AT_START.is_set():
            _REAPED_AT_START.set()
            reap_orphans(self._client)
        try:
            return SandboxContainer(self._client, self.config).start()
        except SocketTransportUnusable:
            if not self._auto_transport:
                raise
            # `auto` chose the socket, but the daemon cannot share this host's directories with
            # its containers: fall back to the attach stream for this pool.
            self.config = dataclasses.replace(self.config, transport="attach")
            return SandboxContainer(self._client, self.config).start()

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run `request` in a fresh process of a warm container (see `Sandbox.execute`).

        A fault of the infrastructure is never the program's result: when nothing ran (a container
        refused or could not start) or its container died under it (killed from outside), the
        request runs again on a fresh container, up to `ATTEMPTS` times in all.

        Raises:
            SandboxLost: the container died under the program on every attempt.
            SandboxUnavailable: no container could be started or acquired.
        """
        for attempt in range(1, ATTEMPTS + 1):
            try:
                container = await self.pool.acquire()
            except SandboxUnavailable as exc:
                # Only a failed start is worth another try (a daemon hiccup); a closed, overloaded
                # or busy pool would answer the same.
                if exc is not self.pool.last_error or self.pool.closed or attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S * attempt)
                continue
            recycle = True
            try:
                result = await container.aexecute(request)
                # A limit hit may leave the kernel or tmpfs in an odd state: start the next run afresh.
                recycle = result.limit_hit or container.dead
                return result
            except SandboxLost as exc:
                self.lost += 1
                if attempt == ATTEMPTS:
                    raise SandboxLost(
                        f"{exc}, on {ATTEMPTS} containers in a row; the program's outcome is unknown "
                        "(not a verdict): run it again when the Docker daemon is healthy"
                    ) from exc
            except RunnerRefused:
                # Nothing ran: that container is replaced and the request goes to another one.
                if attempt == ATTEMPTS:
                    raise
            finally:
                self.pool.release(container, recycle=recycle)
        raise AssertionError("unreachable")

    async def warm_up(self) -> None:
        """Create the pool's containers now rather than on first use (and wait until one is ready)."""
        self.pool.warm_up()
        container = await self.pool.acquire(timeout_s=max(self.pool.acquire_timeout_s, 120.0))
        self.pool.release(container)

    async def aclose(self) -> None:
        """Remove every container of this sandbox (idempotent)."""
        await self.pool.aclose()
        _OPEN.discard(self)

    def close(self) -> None:
        """Blocking `aclose` for synchronous code and atexit."""
        self.pool.close_sync()
        _OPEN.discard(self)

    async def __aenter__(self) -> DockerSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def describe(self) -> dict[str, Any]:
        """Pool figures for diagnostics."""
        return {
            "image": self.image,
            "image_ref": self.image_ref,
            "pool_size": self.pool.size,
            "created": self.pool.created,
            "recycled": self.pool.recycled,
            "lost": self.lost,
        }


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise SandboxConfigError(f"{name}={value!r} is out of range; use a value in [{low:g}, {high:g}]")


@atexit.register
def _close_all() -> None:
    # A normal interpreter exit must leave no container behind, even without aclose().
    for sandbox in list(_OPEN):
        try:
            sandbox.close()
        except Exception:
            pass
