"""Opening the sandbox that APPS+ programs run in (Docker by default; local only on request)."""

from __future__ import annotations

from phalanx.agents.stepcoder.errors import ExecutorError
from phalanx.sandbox import Sandbox, open_sandbox

APPS_IMAGE = "scientific"
"""A few APPS+ canonical solutions import numpy or scipy; this image provides them."""


def open_apps_sandbox(backend: str = "docker", *, image: str = APPS_IMAGE, workers: int = 4) -> Sandbox:
    """The sandbox for APPS+ programs.

    Args:
        backend: `docker` (isolated, the default) or `local` (runs programs as host processes:
            development only, and only because the caller asked for it by name).
        image: Docker image recipe name (ignored by `local`).
        workers: warm containers in the pool.

    Raises:
        ExecutorError: unknown backend name.
        SandboxUnavailable / SandboxConfigError: from the backend (daemon down, image missing).
    """
    if backend == "docker":
        # Per-case memory is capped inside the harness (RLIMIT_AS); the container gets headroom for
        # the harness, the numpy/scipy prelude and one case at its limit.
        return open_sandbox("docker", image=image, pool_size=workers, memory_mb=2048)
    if backend == "local":
        return open_sandbox("local", insecure=True, pool_size=workers)
    raise ExecutorError(
        f"unknown sandbox backend {backend!r}; use 'docker' (isolated) or 'local' (development only)"
    )
