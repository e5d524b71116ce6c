"""Scale out on Ray: a model on replica actors, an audit and APPS+ in shards, a sandbox per node.

Run: python examples/ray_scale_out.py [OUT_DIR]      (needs `pip install 'phalanx[ray]'` and Docker)
Starts a two-node Ray cluster on 127.0.0.1 (`LocalCluster`). On a real cluster, start Ray on each
machine (`ray start --head` on one, `ray start --address=HEAD:6379` on the others) and pass the
head's address instead: `RayExecutor(address="HEAD:6379")`, `ray:SPEC?replicas=N&address=HEAD:6379`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from phalanx.agents import audit_toolsword, verify_apps
from phalanx.agents.sharded import LocalCluster, RayExecutor
from phalanx.models import Message, load_model
from phalanx.sandbox import open_sandbox, run_python


async def main(cluster: LocalCluster, out: Path) -> None:
    # 1. Any model spec as N replica actors; calls go to the least busy replica.
    model = load_model(f"ray:scripted:comply?replicas=2&address={cluster.address}")
    replies = await asyncio.gather(*(model.chat([Message.user(f"task {i}")]) for i in range(4)))
    print(f"{model.name}: {len(replies)} replies, calls per replica {model.calls_per_replica}")
    await model.aclose()

    # 2. Long jobs in shards over the nodes: same results files and summaries as in-process.
    ray = RayExecutor(address=cluster.address, shard_size=4)
    audit = await audit_toolsword(
        "scripted:comply",
        "default",
        "rules",
        ["MQ", "RC"],
        None,
        out / "audit",
        limit=2,
        report=False,
        ray=ray,
    )
    print(audit.text())
    apps = await verify_apps(limit=8, out_dir=out / "apps", workers=1, progress=False, ray=ray)
    print(f"APPS+ canonical solutions verified on Ray: {apps.passed}/{apps.problems} passed")

    # 3. A sandbox over the cluster: one Docker pool per node, executions where slots are free.
    sandbox = open_sandbox("ray", slots_per_node=2, address=cluster.address)
    squares = await asyncio.gather(*(run_python(sandbox, f"print({i} * {i})") for i in range(6)))
    print("squares from the nodes:", [r.stdout.strip() for r in squares], sandbox.executions_per_node)
    await sandbox.aclose()


if __name__ == "__main__":
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="phalanx-ray-"))
    with LocalCluster(nodes=2) as local_cluster:
        asyncio.run(main(local_cluster, out_dir))
    print(f"results in {out_dir}")
