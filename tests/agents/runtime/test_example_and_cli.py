"""The README's runtime example runs, and `phalanx demo` / `phalanx graph` work end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from phalanx.cli import demo_cmd

ROOT = Path(__file__).resolve().parents[3]


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    demo_cmd.register(app)
    return app


async def test_runtime_example_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "runtime_graph_example", ROOT / "examples" / "runtime_graph.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = await module.main(str(tmp_path / "research.db"))
    assert state.report.splitlines() == [f"solar: {a} -> answered" for a in ("cost", "risk", "speed")]


def test_demo_json_events_then_resume_replays(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    args = ["demo", "--db", str(db), "--thread", "t1", "--latency", "0", "--json"]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["kind"] == "node_start" and events[0]["node"] == "plan"
    assert events[-1]["kind"] == "done"
    state = events[-1]["data"]["state"]
    assert len(state["findings"]) == len(state["subtasks"]) == 4
    kinds = {e["kind"] for e in events}
    assert {"token", "tool_call", "error", "node_end"} <= kinds  # the flaky worker retried
    workers = [e for e in events if e["kind"] == "node_end" and e["node"] == "worker"]
    assert len(workers) == 4

    again = CliRunner().invoke(cli(), ["demo", "--db", str(db), "--resume", "t1", "--json"])
    assert again.exit_code == 0, again.output
    (done,) = [json.loads(line) for line in again.stdout.splitlines()]  # finished thread: nothing reruns
    assert done["kind"] == "done" and done["data"]["state"]["report"] == state["report"]


def test_demo_live_view_and_unknown_thread(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["demo", "--memory", "--latency", "0", "--topic", "bees"])
    assert result.exit_code == 0, result.output
    assert "worker #4" in result.output and "report: bees" in result.output
    missing = CliRunner().invoke(cli(), ["demo", "--db", str(tmp_path / "x.db"), "--resume", "nope"])
    assert missing.exit_code == 1 and "no run recorded for thread 'nope'" in missing.output


def test_graph_mermaid_and_validate_commands() -> None:
    target = "phalanx.agents.graph.demo:build_demo_graph"
    mermaid = CliRunner().invoke(cli(), ["graph", "mermaid", target])
    assert mermaid.exit_code == 0 and "n_plan -.->|fan_out| n_worker" in mermaid.stdout
    ok = CliRunner().invoke(cli(), ["graph", "validate", target])
    assert ok.exit_code == 0 and "no problems found" in ok.stdout
    bad = CliRunner().invoke(cli(), ["graph", "mermaid", "nomodule"])
    assert bad.exit_code != 0 and "MODULE:ATTRIBUTE" in bad.output
