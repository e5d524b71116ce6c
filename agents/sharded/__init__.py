"""phalanx.agents.sharded: long jobs split into shards over the nodes of a Ray cluster (`phalanx[ray]`).

`RayExecutor` says where (`--ray ADDRESS` on the CLI); `run_sharded` runs a job's records
shard by shard on one worker actor per node, streams every result back to the driver once,
and gives a lost node's unfinished records to the nodes left. See README "Scaling out on Ray".
"""

from phalanx.agents.sharded.executor import RayExecutor, RayJobError, parse_ray_option
from phalanx.agents.sharded.local import LocalCluster
from phalanx.agents.sharded.runner import ShardEvent, ShardStats, ShardWork, ShardWorker, run_sharded

__all__ = [
    "LocalCluster",
    "RayExecutor",
    "RayJobError",
    "ShardEvent",
    "ShardStats",
    "ShardWork",
    "ShardWorker",
    "parse_ray_option",
    "run_sharded",
]
