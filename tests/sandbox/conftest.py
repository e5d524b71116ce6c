"""Sandbox fixtures: one warm Docker pool per test module (small limits keep the attack suite fast)."""

from __future__ import annotations

import subprocess
import warnings

import pytest


def phalanx_containers(pool_id: str | None = None) -> list[str]:
    """Ids of phalanx sandbox containers (of one pool when `pool_id` is given), running or not."""
    label = f"phalanx.pool={pool_id}" if pool_id else "phalanx.sandbox"
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True, timeout=30
    )
    return out.stdout.split()


@pytest.fixture
def list_containers():
    """`phalanx_containers` for tests: ids of (one pool's) phalanx containers."""
    return phalanx_containers


@pytest.fixture(scope="module")
def docker_sandbox():
    """A DockerSandbox of the default image with 2 warm containers, removed after the module."""
    from phalanx.sandbox.docker import DockerSandbox

    sb = DockerSandbox("default", pool_size=2, memory_mb=512, pids_limit=64, work_size_mb=32, tmp_size_mb=8)
    yield sb
    sb.close()
    assert phalanx_containers(sb.pool_id) == [], "a closed pool left containers behind"


@pytest.fixture(scope="module")
def docker_attach_sandbox():
    """A DockerSandbox talking to its runners through the daemon's attach stream (remote-daemon path)."""
    from phalanx.sandbox.docker import DockerSandbox

    sb = DockerSandbox("default", pool_size=2, memory_mb=512, pids_limit=64, transport="attach")
    yield sb
    sb.close()
    assert phalanx_containers(sb.pool_id) == []


@pytest.fixture(scope="module")
def local_sandbox():
    """The local development backend (not isolation), 2 warm runners."""
    from phalanx.sandbox.local import LocalSandbox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb = LocalSandbox(insecure=True, pool_size=2)
    yield sb
    sb.close()
