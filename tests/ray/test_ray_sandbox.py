"""`open_sandbox("ray")`: one pool per node, work spread by free slots, a lost node loses no execution."""

from __future__ import annotations

import asyncio

import pytest

from phalanx.sandbox import Limits, RaySandbox, SandboxUnavailable, open_sandbox, run_python

SLOW = "import time, sys\ntime.sleep(0.5)\nprint(int(sys.stdin.read()) * 2)"


@pytest.mark.requires_docker
async def test_executions_spread_over_the_nodes_and_give_local_results(ray_cluster) -> None:
    sandbox = open_sandbox("ray", slots_per_node=2, address=ray_cluster.address)
    try:
        assert isinstance(sandbox, RaySandbox) and len(set(sandbox.nodes)) == 2
        results = await asyncio.gather(*(run_python(sandbox, SLOW, stdin=str(i)) for i in range(8)))
        assert [r.stdout.strip() for r in results] == [str(2 * i) for i in range(8)]
        assert sandbox.executions_per_node == [4, 4]  # two slots a node, both nodes kept busy
        failing = await run_python(sandbox, "raise SystemExit(3)", limits=Limits(timeout_s=5))
        assert failing.exit_code == 3  # a program's failure is a result, as in every sandbox
    finally:
        await sandbox.aclose()


@pytest.mark.requires_docker
async def test_a_node_lost_mid_run_loses_no_execution(ray_cluster) -> None:
    doomed = ray_cluster.add_node()
    sandbox = RaySandbox(slots_per_node=2, address=ray_cluster.address)
    try:
        assert len(sandbox.nodes) == 3
        runs = [asyncio.ensure_future(run_python(sandbox, SLOW, stdin=str(i))) for i in range(12)]
        await asyncio.sleep(0.3)  # every node holds two executions now
        await asyncio.to_thread(ray_cluster.remove_node, doomed)
        results = await asyncio.gather(*runs)
        assert [r.stdout.strip() for r in results] == [str(2 * i) for i in range(12)]
        assert sandbox.retried >= 1 and sum(sandbox.executions_per_node) == 12
    finally:
        await sandbox.aclose()


def test_an_unreachable_cluster_is_sandbox_unavailable(ray_cluster) -> None:
    with pytest.raises(SandboxUnavailable, match="no Ray cluster answers at 127.0.0.1:1"):
        open_sandbox("ray", address="127.0.0.1:1")
