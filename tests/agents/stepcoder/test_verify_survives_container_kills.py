"""Sandbox containers killed from outside during `verify_apps` change no verdict.

A dead container says nothing about the program it was running: the execution is retried on a
fresh container, and the verification of the shipped sample ends with exactly the verdicts of an
undisturbed run (passes, failures and their first failing outcomes alike).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from phalanx.agents.stepcoder import open_apps_sandbox, read_results, verify_apps

pytestmark = pytest.mark.requires_docker

N_PROBLEMS = 90
KILLS = 5


def _subset(sample_path: Path, dst: Path) -> Path:
    """The first problems of the sample (both io modes, every difficulty) plus a few broken ones,
    so the verdicts to compare hold failures as well as passes."""
    lines = sample_path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines[:60] + lines[200:230]]
    records[3]["outputs"][0] = "certainly wrong\n" if records[3]["io_mode"] == "stdin" else [-12345]
    records[70]["outputs"][-1] = "certainly wrong\n"
    records[40]["canonical_solution"] = records[40]["canonical_solution"] + "\nraise SystemExit(3)\n"
    assert len(records) == N_PROBLEMS
    dst.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return dst


def _verdicts(out: Path) -> dict[str, tuple[bool, tuple[str, ...]]]:
    return {
        r.problem_id: (r.passed, tuple(c.outcome for c in r.cases))
        for r in read_results(out / "results.jsonl").values()
    }


async def _kill_while_running(sandbox, task: asyncio.Task, kills: int) -> int:
    """`docker kill` a container while it runs a program, `kills` times, each after the pool refilled.

    The kill goes through a Docker client of its own (the API call `docker kill` makes, without
    the CLI's start-up time, so it lands while the short APPS programs still run).
    """
    import docker

    outside = docker.from_env()
    done = 0
    try:
        await asyncio.sleep(0.5)
        while done < kills and not task.done():
            created = sandbox.pool.created
            # A container that has run a few programs is running one now (not a fresh replacement
            # that may be retrying the last victim's program).
            busy = [c.id for c in list(sandbox.pool._busy) if c.id and c.uses >= 2]
            if not busy:
                await asyncio.sleep(0.02)
                continue
            try:
                await asyncio.to_thread(outside.api.kill, busy[0])
            except docker.errors.APIError:
                continue  # it was replaced meanwhile
            done += 1
            while sandbox.pool.created == created and not task.done():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
    finally:
        outside.close()
    return done


async def test_verdicts_under_container_kills_equal_an_undisturbed_run(apps_sandbox, sample_path, tmp_path):
    data = _subset(sample_path, tmp_path / "subset.jsonl")
    calm = await verify_apps(data, sandbox=apps_sandbox, workers=2, out_dir=tmp_path / "calm", progress=False)
    assert calm.not_run == [] and calm.problems == N_PROBLEMS
    assert calm.failed == 3 and set(calm.by_outcome) == {"wrong_answer", "runtime_error"}

    sandbox = open_apps_sandbox("docker", workers=2)
    try:
        run = asyncio.create_task(
            verify_apps(data, sandbox=sandbox, workers=2, out_dir=tmp_path / "killed", progress=False)
        )
        kills = await _kill_while_running(sandbox, run, KILLS)
        disturbed = await asyncio.wait_for(run, 600)
        lost = sandbox.lost
    finally:
        await sandbox.aclose()

    assert kills >= 3 and lost >= 3, f"only {lost} of {kills} kills landed while a program ran"
    assert disturbed.not_run == []
    assert _verdicts(tmp_path / "killed") == _verdicts(tmp_path / "calm")
    keep = {"problems", "passed", "failed", "by_difficulty", "by_outcome", "failures"}
    assert disturbed.model_dump(include=keep) == calm.model_dump(include=keep)
    print(
        json.dumps({"problems": N_PROBLEMS, "kills": kills, "lost_executions": lost, "failed": calm.failed})
    )
