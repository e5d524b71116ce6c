"""Warm pool behaviour with real containers: back-pressure, recycling, shutdown, orphan reaping."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from phalanx.sandbox import Limits, SandboxUnavailable, open_sandbox, run_python

pytestmark = pytest.mark.requires_docker

LIM = Limits(timeout_s=5, max_processes=16)


async def test_back_pressure_when_all_busy(list_containers):
    sb = open_sandbox("docker", pool_size=1, acquire_timeout_s=0.5, max_waiters=1, pids_limit=32)
    try:
        await sb.warm_up()
        slow = asyncio.create_task(run_python(sb, "import time; time.sleep(3)", limits=LIM))
        await asyncio.sleep(0.3)
        start = time.monotonic()
        waiting = asyncio.create_task(run_python(sb, "print(1)", limits=LIM))
        await asyncio.sleep(0.05)
        # A second waiter exceeds max_waiters: refused at once.
        with pytest.raises(SandboxUnavailable, match="overloaded"):
            await run_python(sb, "print(2)", limits=LIM)
        with pytest.raises(SandboxUnavailable, match="no sandbox became free within 0.5s"):
            await waiting
        assert time.monotonic() - start < 10
        assert (await slow).ok
        assert (await run_python(sb, "print(3)", limits=LIM)).stdout == "3\n"
    finally:
        await sb.aclose()
    assert list_containers(sb.pool_id) == []


async def test_recycled_after_max_uses_and_after_a_limit_hit():
    sb = open_sandbox("docker", pool_size=1, max_uses=2, pids_limit=32)
    try:
        ids = []
        for _ in range(4):
            r = await run_python(sb, "import socket; print(socket.gethostname())", limits=LIM)
            ids.append(r.stdout)
        assert ids[0] == ids[1] != ids[2] == ids[3]
        await run_python(sb, "while True: pass", limits=Limits(timeout_s=0.3, max_processes=16))
        after = await run_python(sb, "import socket; print(socket.gethostname())", limits=LIM)
        assert after.stdout not in ids
        assert sb.pool.created >= 3
    finally:
        await sb.aclose()


async def test_closed_pool_refuses_work():
    sb = open_sandbox("docker", pool_size=1, pids_limit=32)
    await run_python(sb, "pass", limits=LIM)
    await sb.aclose()
    await sb.aclose()  # idempotent
    with pytest.raises(SandboxUnavailable, match="closed"):
        await run_python(sb, "pass", limits=LIM)


SCRIPT = """
import asyncio, os, sys
from phalanx.sandbox import open_sandbox, run_python
sb = open_sandbox("docker", pool_size=2, pids_limit=32)
r = asyncio.run(run_python(sb, "print(7)"))
print(sb.pool_id, r.stdout.strip(), flush=True)
if sys.argv[1] == "crash":
    os._exit(0)  # no atexit: containers are orphaned
"""


def _run_owner(mode: str) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pool_id, seven = out.stdout.split()
    assert seven == "7"
    return pool_id


def test_normal_exit_leaves_no_container(list_containers):
    pool_id = _run_owner("exit")
    assert list_containers(pool_id) == []


def test_orphans_of_a_crashed_process_are_reaped(list_containers):
    from phalanx.sandbox import reap_orphans

    pool_id = _run_owner("crash")
    orphans = list_containers(pool_id)
    assert orphans, "a crashed owner should have left its containers"
    # a dry run names them and removes nothing
    assert set(orphans) <= {i[:12] for i in reap_orphans(dry_run=True)}
    assert list_containers(pool_id) == orphans
    out = subprocess.run(
        [sys.executable, "-m", "phalanx.cli", "sandbox", "gc", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["removed"]) >= 1
    assert list_containers(pool_id) == []


def test_gc_keeps_containers_of_live_owners(docker_sandbox, list_containers):
    asyncio.run(run_python(docker_sandbox, "pass", limits=LIM))
    from phalanx.sandbox import reap_orphans
    from phalanx.sandbox.docker import connect

    mine = set(list_containers(docker_sandbox.pool_id))
    assert mine
    assert not mine & {i[:12] for i in reap_orphans(dry_run=True)}
    removed = reap_orphans(connect())
    assert not mine & {r[:12] for r in removed} and not mine & set(removed)
    assert set(list_containers(docker_sandbox.pool_id)) == mine


async def test_auto_transport_falls_back_to_attach_when_the_socket_is_invisible(monkeypatch, list_containers):
    """A daemon that cannot share this host's directories (rootless, remote, VM) still works."""
    from phalanx.sandbox.docker import container

    # The runner creates its socket under another name, so the host never sees the one it waits for.
    monkeypatch.setattr(container, "SOCKET_NAME", "elsewhere.sock")
    monkeypatch.setattr(container, "SOCKET_WAIT_S", 1.0)
    sb = open_sandbox("docker", pool_size=1, pids_limit=32)
    try:
        r = await run_python(sb, "print(6 * 7)", limits=LIM)
        assert r.stdout == "42\n" and sb.config.transport == "attach"
    finally:
        await sb.aclose()
    assert list_containers(sb.pool_id) == []
    forced = open_sandbox("docker", pool_size=1, pids_limit=32, transport="socket")
    try:
        with pytest.raises(SandboxUnavailable, match="never opened its socket"):
            await run_python(forced, "print(1)", limits=LIM)
    finally:
        await forced.aclose()


async def test_idle_container_that_stopped_answering_is_replaced_before_use(monkeypatch):
    """A paused container (it cannot answer) is found by the idle ping; the program runs elsewhere."""
    from phalanx.sandbox.docker import container

    monkeypatch.setattr(container, "IDLE_PING_S", 0.0)
    monkeypatch.setattr(container, "PING_TIMEOUT_S", 1.0)
    sb = open_sandbox("docker", pool_size=1, pids_limit=32)
    try:
        await sb.warm_up()
        frozen = next(iter(sb.pool._idle))
        subprocess.run(["docker", "pause", frozen.id], check=True, capture_output=True, timeout=30)
        r = await run_python(sb, "print('ran')", limits=LIM)
        assert r.stdout == "ran\n" and frozen.dead
    finally:
        await sb.aclose()
