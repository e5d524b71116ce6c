"""Connecting to the Docker daemon with errors that say how to fix things."""

from __future__ import annotations

import os
from typing import Any

from phalanx.sandbox.errors import SandboxUnavailable

DAEMON_HINT = (
    "start it with `setsid nohup dockerd --bridge=none --iptables=false >/tmp/dockerd.log 2>&1 &` "
    "(as root), or point DOCKER_HOST at a running daemon"
)


def connect(docker_host: str | None = None, *, timeout_s: float = 60.0, pool_connections: int = 16) -> Any:
    """A docker SDK client that has answered a ping.

    Raises:
        SandboxUnavailable: the SDK is missing or no daemon answers (names DOCKER_HOST and how to start one).
    """
    try:
        import docker
        import docker.errors
    except ImportError as exc:  # pragma: no cover - a dependency of phalanx
        raise SandboxUnavailable("the `docker` python package is missing; `pip install docker`") from exc
    host = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        if docker_host:
            client = docker.DockerClient(
                base_url=docker_host, timeout=int(timeout_s), max_pool_size=pool_connections
            )
        else:
            client = docker.from_env(timeout=int(timeout_s), max_pool_size=pool_connections)
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(
            f"no Docker daemon answers at {host} ({_short(exc)}); {DAEMON_HINT}"
        ) from exc
    except Exception as exc:  # requests/urllib3 connection errors
        raise SandboxUnavailable(
            f"no Docker daemon answers at {host} ({_short(exc)}); {DAEMON_HINT}"
        ) from exc
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
