"""Sharded jobs on a two-node loopback cluster give the in-process results, lose and repeat nothing."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from phalanx.agents.audit import audit_toolsword
from phalanx.agents.sharded import RayExecutor, ShardEvent, run_sharded
from phalanx.agents.stepcoder import ProgramResult, load_problems, verify_apps
from phalanx.agents.stepcoder.batch import Job
from phalanx.agents.stepcoder.sharded import AppsShardWork

VOLATILE = {"wall_s", "seconds"}
CALL_ID = re.compile(r"call_[0-9a-f]{24}")


def _rows(path: Path, key: str) -> dict[str, dict]:
    """Result lines by key, without timings and random tool-call ids (they differ run to run)."""
    rows: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        row = {k: v for k, v in json.loads(CALL_ID.sub("call_", line)).items() if k not in VOLATILE}
        for case in row.get("cases") or []:
            case.pop("wall_s", None)
        if isinstance(row.get("first_failure"), dict):
            row["first_failure"].pop("wall_s", None)
        assert row[key] not in rows, f"{row[key]} written twice"
        rows[row[key]] = row
    return rows


def _key(row: dict) -> str:
    return f"{row['problem_id']}#{row['sample']}"


@pytest.mark.requires_docker
async def test_apps_verification_on_ray_matches_in_process_and_resumes(ray_cluster, tmp_path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    local = await verify_apps(limit=12, out_dir=here, workers=2, progress=False)
    ray = RayExecutor(address=ray_cluster.address, shard_size=3)
    remote = await verify_apps(limit=12, out_dir=there, workers=2, progress=False, ray=ray)
    assert remote.model_dump() == local.model_dump()
    want = {_key(r): r for r in map(json.loads, (here / "results.jsonl").read_text().splitlines())}
    got = {_key(r): r for r in map(json.loads, (there / "results.jsonl").read_text().splitlines())}
    assert got.keys() == want.keys()
    assert {k: r["passed"] for k, r in got.items()} == {k: r["passed"] for k, r in want.items()}

    # A driver that died after 5 lines: the rerun runs only the 7 missing problems.
    lines = (there / "results.jsonl").read_text().splitlines()
    (there / "results.jsonl").write_text("\n".join(lines[:5]) + "\n")
    again = await verify_apps(limit=12, out_dir=there, workers=2, progress=False, ray=ray)
    assert again.model_dump() == local.model_dump()
    assert len((there / "results.jsonl").read_text().splitlines()) == 12


async def test_toolsword_audit_on_ray_matches_in_process(ray_cluster, tmp_path) -> None:
    args = ("scripted:comply", "default", "rules", ["MQ", "RC", "HF"], None)
    local = await audit_toolsword(*args, tmp_path / "here", report=False, concurrency=2, limit=1)
    ray = RayExecutor(address=ray_cluster.address, shard_size=2)
    remote = await audit_toolsword(*args, tmp_path / "there", report=False, concurrency=2, limit=1, ray=ray)
    assert remote.to_json() == local.to_json()
    got = _rows(tmp_path / "there" / "results.jsonl", "key")
    assert got == _rows(tmp_path / "here" / "results.jsonl", "key")


@pytest.mark.requires_docker
async def test_killing_a_node_mid_run_loses_no_record(ray_cluster, sample_path) -> None:
    doomed = ray_cluster.add_node()  # a third node, so the session's two stay up
    ray = RayExecutor(address=ray_cluster.address, shard_size=2, shards_per_node=2)
    # Workers go to the nodes `alive_nodes()` lists when the job starts; a new node shows there
    # only once it offers its CPUs (and a node an earlier test killed can still be listed until
    # the cluster's health check drops it), so wait for this node by its id, not by a count.
    deadline = time.monotonic() + 120
    while doomed.node_id not in ray.alive_nodes():
        assert time.monotonic() < deadline, "the added node never offered its CPUs"
        time.sleep(0.5)
    jobs = [Job(p, p.canonical_solution) for p in load_problems(sample_path, limit=24)]
    # One record at a time per node, two shards of two per node: when the doomed node reports
    # its first record, it still holds three it has not run, and is killed right then.
    work = AppsShardWork("docker", "scientific", workers=1)
    seen: dict[str, ProgramResult] = {}
    reports: list[str] = []
    events: list[ShardEvent] = []

    def on_result(key: str, result: ProgramResult) -> None:
        reports.append(key)
        seen[key] = result

    def on_event(event: ShardEvent) -> None:
        first = event.kind == "record" and event.node == doomed.node_id and not events_of("record", doomed)
        events.append(event)
        if first:
            ray_cluster.remove_node(doomed)  # mid-run, with work in flight on it

    def events_of(kind: str, node: Any = None) -> list[ShardEvent]:
        return [e for e in events if e.kind == kind and (node is None or e.node == node.node_id)]

    stats = await run_sharded(work, jobs, ray, on_result, on_event=on_event)
    assert stats.records == len(jobs)
    assert sorted(reports) == sorted(work.key(j) for j in jobs)  # each record once, none lost
    assert all(r.infra_error is None and r.passed for r in seen.values())
    # The node died holding work, and that work was given back and run on the nodes left.
    lost = events_of("node_lost")
    assert stats.workers_lost == 1 and {e.node for e in lost} == {doomed.node_id}
    given_back = {k for e in lost for k in e.keys}
    assert stats.records_given_back == len(given_back) >= 1
    rerun = [e for e in events_of("record") if e.keys[0] in given_back]
    assert len(rerun) == len(given_back) and all(e.node != doomed.node_id for e in rerun)


async def test_a_node_gone_before_its_worker_starts_is_a_lost_node(ray_cluster, tmp_path, caplog) -> None:
    """A node listed alive that is gone when its worker is placed (it died in between) loses no record."""
    from phalanx.agents.selfevolve import evolve_dataset, load_instances, parse_modes

    class GhostNode(RayExecutor):
        def alive_nodes(self) -> list[str]:
            return ["ab" * 28, *super().alive_nodes()]  # a node id no cluster has

    instances = load_instances("embedded:kinship", limit=4)
    modes = parse_modes("paraphrase,polarity")
    models = ("scripted:evolve-generator", "scripted:evolve-verifier")
    ray = GhostNode(address=ray_cluster.address, shard_size=2)
    with caplog.at_level("WARNING", logger="phalanx.sharded"):
        out = await evolve_dataset(instances, modes, *models, tmp_path / "out", concurrency=2, ray=ray)
    assert out.written == 8 and not out.errors
    assert any("abababab" in r.getMessage() and "lost" in r.getMessage() for r in caplog.records)


async def test_evolve_on_ray_writes_the_in_process_records(ray_cluster, tmp_path) -> None:
    from phalanx.agents.selfevolve import evolve_dataset, load_instances, parse_modes, read_evolved

    instances = load_instances("embedded:kinship", limit=6)
    modes = parse_modes("paraphrase,polarity,alternative")
    models = ("scripted:evolve-generator", "scripted:evolve-verifier")
    local = await evolve_dataset(instances, modes, *models, tmp_path / "here", concurrency=2)
    ray = RayExecutor(address=ray_cluster.address, shard_size=2)
    remote = await evolve_dataset(instances, modes, *models, tmp_path / "there", concurrency=2, ray=ray)
    assert remote.written == local.written == 18 and remote.counts == local.counts and not remote.errors

    def records(folder: Path) -> dict[str, dict]:
        return {r.id: r.model_dump() for r in read_evolved(folder)}

    assert records(tmp_path / "there") == records(tmp_path / "here")
    again = await evolve_dataset(instances, modes, *models, tmp_path / "there", concurrency=2, ray=ray)
    assert again.written == 0 and again.skipped == 18  # a rerun resumes: nothing is done twice


@pytest.mark.requires_docker
async def test_apps_eval_on_ray_gives_the_in_process_pass_at_k(ray_cluster, sample_path, tmp_path) -> None:
    from phalanx.agents.stepcoder import evaluate_model
    from phalanx.models.scripted import ScriptedModel

    problems = load_problems(sample_path, limit=4)

    def answer(messages, tools):  # the canonical solution, except for the second problem
        p = next(p for p in problems if p.prompt.strip() in (messages[-1].content or ""))
        return f"```python\n{'print(0)' if p is problems[1] else p.canonical_solution}\n```"

    model = ScriptedModel(answer, name="scripted:canonical")
    ray = RayExecutor(address=ray_cluster.address, shard_size=2)
    args = dict(data=sample_path, limit=4, temperature=0.0, progress=False, workers=1)
    here = await evaluate_model(model, out_dir=tmp_path / "here", **args)
    there = await evaluate_model(model, out_dir=tmp_path / "there", ray=ray, **args)
    assert there.model_dump() == here.model_dump()
    assert here.overall.pass_at["1"] == 0.75
