"""`RayExecutor`: where a long job's shards run (a Ray cluster), and how they are cut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phalanx.models import ModelUnavailable


class RayJobError(Exception):
    """A sharded job cannot go on: Ray missing, the cluster unreachable, or every worker lost.

    Records finished before the error are already written; rerunning the same command resumes.
    """


@dataclass(frozen=True)
class RayExecutor:
    """Runs a job's records as shards on the worker actors of a Ray cluster (one per node).

    Every long job (`verify_apps`, `evaluate_model`, `audit_toolsword`, `evolve_dataset`)
    takes `ray=RayExecutor(...)`; the CLI's `--ray [ADDRESS]` builds one. Without it a job
    runs in-process exactly as before.

    Attributes:
        address: `HOST:PORT` of a running cluster (`ray start --head`); None joins the cluster
            this process is connected to, else `RAY_ADDRESS`, else starts a local one.
        shard_size: records per shard (a shard is the unit a worker takes and a lost node gives back).
        shards_per_node: shards each node's worker runs at once.
        num_cpus: CPUs Ray reserves for each worker actor (0: the work itself, e.g. Docker
            containers or a model server, is what uses the CPUs).
    """

    address: str | None = None
    shard_size: int = 16
    shards_per_node: int = 2
    num_cpus: float = 0

    def __post_init__(self) -> None:
        if self.shard_size < 1 or self.shards_per_node < 1 or self.num_cpus < 0:
            raise ValueError(
                f"RayExecutor: shard_size and shards_per_node must be >= 1 and num_cpus >= 0, got {self}"
            )

    def connect(self) -> Any:
        """Join the cluster (once per process) and return the `ray` module.

        Raises:
            RayJobError: Ray is not installed or the cluster cannot be reached.
        """
        from phalanx.models.ray_backend import connect

        try:
            return connect(self.address, "--ray")
        except ModelUnavailable as exc:
            raise RayJobError(str(exc)) from exc

    def alive_nodes(self) -> list[str]:
        """Ids of the cluster's live nodes that have CPUs."""
        ray = self.connect()
        return [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")]


def parse_ray_option(value: str | None) -> RayExecutor | None:
    """The CLI's `--ray [ADDRESS]`: None (option absent) -> in-process; `auto`/`local`/empty -> default."""
    if value is None:
        return None
    address = value.strip()
    return RayExecutor(address=None if address in ("", "local") else address)
