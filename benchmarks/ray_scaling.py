"""Benchmark: APPS+ verification in-process vs sharded over a 2-node local Ray cluster.

Prints ONE JSON line:
  problems            problems verified (the 300-problem sample shipped with phalanx by default)
  inprocess_s         `verify_apps` in this process: one Docker pool of `--workers` containers
  ray_s               the same on a LocalCluster of `--nodes` nodes on 127.0.0.1, each node with a
                      pool of workers/nodes containers (the same total), timed once the cluster is up
                      (worker actors starting and opening their pools are counted)
  ray_overhead_ratio  ray_s / inprocess_s
  same_summary        both runs gave the same summary
On one machine the nodes share its cores, so no speedup is possible: the figure is Ray's overhead
(README "Scaling out on Ray" explains how it scales on a real cluster).

Usage: python benchmarks/ray_scaling.py [--problems N] [--workers W] [--nodes K] [--shard-size S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from phalanx.agents.sharded import LocalCluster, RayExecutor  # before Ray: keeps it on loopback
from phalanx.agents.stepcoder import verify_apps


async def timed(**kwargs) -> tuple[float, dict]:
    start = time.perf_counter()
    summary = await verify_apps(progress=False, **kwargs)
    return time.perf_counter() - start, summary.model_dump()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=None, help="first N problems (default: all 300)")
    parser.add_argument("--workers", type=int, default=2, help="containers in all (default 2)")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=16)
    args = parser.parse_args()
    per_node = max(1, args.workers // args.nodes)
    inprocess_s, local = asyncio.run(timed(limit=args.problems, workers=args.workers))
    with LocalCluster(nodes=args.nodes, num_cpus=max(1, (os.cpu_count() or 2) // args.nodes)) as cluster:
        executor = RayExecutor(address=cluster.address, shard_size=args.shard_size)
        ray_s, remote = asyncio.run(timed(limit=args.problems, workers=per_node, ray=executor))
    print(
        json.dumps(
            {
                "problems": local["problems"],
                "nodes": args.nodes,
                "workers": args.workers,
                "inprocess_s": round(inprocess_s, 2),
                "ray_s": round(ray_s, 2),
                "ray_overhead_ratio": round(ray_s / inprocess_s, 3),
                "same_summary": remote == local,
            }
        )
    )


if __name__ == "__main__":
    main()
