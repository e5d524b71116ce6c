"""`phalanx audit-log show` renders, filters and exports an audit log."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from phalanx.cli.app import app
from phalanx.tools import AuditLog, FunctionHook, HookVerdict, Toolset, tool


@tool
def ping(host: str) -> str:
    """Ping a host."""
    return f"pong {host}"


@tool
def wipe(path: str) -> str:
    """Delete a path."""
    return "wiped"


async def test_show_filters_and_json(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    guard = FunctionHook(
        before=lambda ctx: HookVerdict.block("destructive") if ctx.tool.name == "wipe" else None, name="guard"
    )
    with AuditLog(log) as audit:
        ts = Toolset([ping, wipe], hooks=[guard], audit=audit)
        await ts.call("ping", {"host": "127.0.0.1"})
        await ts.call("wipe", {"path": "/"})
        await ts.call("ping", {})
    runner = CliRunner()
    table = runner.invoke(app, ["audit-log", "show", str(log)], env={"COLUMNS": "220"})
    assert table.exit_code == 0, table.output
    assert "ping" in table.output and "guard:block" in table.output
    assert "ok: 1, blocked: 1, invalid_args: 1" in table.output
    blocked = runner.invoke(app, ["audit-log", "show", str(log), "--blocked", "--json"])
    rows = [json.loads(line) for line in blocked.output.splitlines()]
    assert [(r["tool"], r["status"]) for r in rows] == [("wipe", "blocked")]
    by_tool = runner.invoke(app, ["audit-log", "show", str(log), "--tool", "ping", "--json"])
    assert [json.loads(line)["status"] for line in by_tool.output.splitlines()] == ["ok", "invalid_args"]
    missing = runner.invoke(app, ["audit-log", "show", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
