"""One local two-node Ray cluster on loopback per test session (Ray start-up is slow: share it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from phalanx.agents.sharded import LocalCluster


@pytest.fixture(scope="session")
def ray_installed() -> None:
    """Skip (fail under CI=true) without Ray; checked without importing it, which would fix its
    addresses before `LocalCluster` can keep them on 127.0.0.1."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs Ray: pip install 'phalanx[ray]'")


@pytest.fixture(scope="session")
def ray_cluster(ray_installed: None) -> Iterator[LocalCluster]:
    """The session's cluster, this process connected to it as the driver."""
    with LocalCluster(nodes=2) as cluster:
        yield cluster
