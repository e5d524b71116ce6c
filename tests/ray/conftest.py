"""One local two-node Ray cluster on loopback per test session (Ray start-up is slow: share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from phalanx.agents.sharded import LocalCluster  # before Ray is imported: keeps it on loopback


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    """The session's cluster, this process connected to it as the driver."""
    pytest.importorskip("ray", reason="needs Ray: pip install 'phalanx[ray]'")
    with LocalCluster(nodes=2) as cluster:
        yield cluster
