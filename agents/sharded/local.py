"""`LocalCluster`: a Ray cluster of several nodes on this machine, every address on 127.0.0.1.

For trying `--ray` on one machine, examples, tests and benchmarks; a real cluster is started
with `ray start` on each machine instead (README "Scaling out on Ray").
"""

from __future__ import annotations

import os
import sys
from typing import Any

from phalanx.agents.sharded.executor import RayJobError

LOOPBACK = "127.0.0.1"
LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray swaps 127.0.0.1 for the machine's routable IP unless told the cluster is local-only; this
is the switch Ray itself uses for that, read once when Ray is imported. Only `LocalCluster` sets
it, so a process that joins a real cluster keeps Ray's own addresses."""


def _keep_ray_on_loopback() -> None:
    if "ray" not in sys.modules:
        os.environ[LOCAL_ONLY] = "0"
    elif os.environ.get(LOCAL_ONLY) != "0":
        raise RayJobError(
            "LocalCluster: Ray was imported before the cluster was started, so it would use this "
            "machine's routable IP instead of 127.0.0.1; start the LocalCluster before importing ray"
        )


class LocalCluster:
    """`nodes` Ray nodes on loopback (`ray.cluster_utils.Cluster`), this process their driver.

    Use as a context manager; `address` is what `RayExecutor(address=...)` and
    `ray:SPEC?address=...` take. Node deaths are noticed within about 2 s, so a test or a
    demo that removes a node sees its work move on quickly.

    Args:
        nodes: how many nodes (the first is the head).
        num_cpus: CPUs each node offers to Ray.
    """

    def __init__(self, nodes: int = 2, *, num_cpus: int = 1) -> None:
        from phalanx.models.ray_backend import import_ray

        _keep_ray_on_loopback()
        import_ray("LocalCluster")
        from ray.cluster_utils import Cluster

        self.cluster: Any = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": num_cpus,
                "include_dashboard": False,
                "node_ip_address": LOOPBACK,
                "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4},
            },
        )
        self.num_cpus = num_cpus
        for _ in range(nodes - 1):
            self.add_node()

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT` of the head node."""
        return str(self.cluster.address)

    def add_node(self, num_gpus: int = 0) -> Any:
        """Start one more node (offering `num_gpus` of this machine's GPUs); returns its handle."""
        return self.cluster.add_node(num_cpus=self.num_cpus, num_gpus=num_gpus, node_ip_address=LOOPBACK)

    def remove_node(self, node: Any) -> None:
        """Kill a node at once, as a crashed machine would go: its Ray processes and its workers.

        Ray's own `remove_node` stops the node's raylet and stores, but the worker processes it
        started (the actors) notice only when they next call the raylet, and a worker busy
        with its records goes on streaming results to the driver. On a machine that dies they
        die with it, so they are killed here too.
        """
        import psutil

        workers: list[Any] = []
        for handle in node.all_processes.get("raylet", []):
            try:
                workers += psutil.Process(handle.process.pid).children(recursive=True)
            except psutil.Error:
                pass
        self.cluster.remove_node(node, allow_graceful=False)
        for proc in workers:
            try:
                proc.kill()
            except psutil.Error:
                pass

    def connect(self) -> LocalCluster:
        """Make this process the cluster's driver."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return self

    def shutdown(self) -> None:
        """Disconnect and stop every node."""
        import ray

        ray.shutdown()
        self.cluster.shutdown()

    def __enter__(self) -> LocalCluster:
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
