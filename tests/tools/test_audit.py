"""One audit line per call, whatever its outcome; buffered writes are never lost."""

from __future__ import annotations

import json
from pathlib import Path

from phalanx.models import ToolCall
from phalanx.tools import (
    AuditLog,
    FunctionHook,
    HookVerdict,
    Toolset,
    filter_audit_records,
    read_audit_log,
    summarize_audit_log,
    tool,
)
from phalanx.tools.audit import digest


@tool
def greet(name: str) -> str:
    """Say hello."""
    return f"hello {name}"


async def test_one_line_per_call_with_verdicts_digest_and_status(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    audit = AuditLog(path, flush_every=1000, metadata={"run": "r1"})
    hooks = [
        FunctionHook(
            before=lambda ctx: HookVerdict.block("no bob") if ctx.args["name"] == "bob" else None,
            name="nobob",
        )
    ]
    ts = Toolset([greet], hooks=hooks, audit=audit)
    await ts.call("greet", {"name": "ann"}, metadata={"step": 1})
    await ts.call("greet", {"name": "bob"})
    await ts.call("greet", '{"name": 3')
    await ts.call("missing", {})
    await ts.call_many([ToolCall(name="greet", arguments=json.dumps({"name": f"p{i}"})) for i in range(5)])
    assert not path.exists() or path.read_text() == ""  # still buffered
    audit.close()
    records = read_audit_log(path)
    assert len(path.read_text().splitlines()) == len(records) == 9
    assert [r.status for r in records[:4]] == ["ok", "blocked", "invalid_args", "unknown_tool"]
    first = records[0]
    assert first.tool == "greet" and first.args == {"name": "ann"}
    assert first.result_digest == digest("hello ann") and first.result_size == len("hello ann")
    assert first.metadata == {"run": "r1", "step": 1}
    assert [(v.hook, v.stage, v.action) for v in first.verdicts] == [
        ("nobob", "before_call", "allow"),
        ("nobob", "after_call", "allow"),
    ]
    assert records[1].blocked and records[1].verdicts[0].reason == "no bob"
    assert records[2].args == '{"name": 3'  # unparsable text is kept as sent
    assert len({r.call_id for r in records}) == 9
    summary = summarize_audit_log(records)
    assert summary.records == 9 and summary.by_tool == {"greet": 8, "missing": 1}
    assert summary.by_status == {"ok": 6, "blocked": 1, "invalid_args": 1, "unknown_tool": 1}
    assert [r.args for r in filter_audit_records(records, blocked=True)] == [{"name": "bob"}]
    assert len(filter_audit_records(records, tool="greet", status="ok")) == 6


async def test_flush_every_and_append_after_close(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditLog(path, flush_every=2)
    ts = Toolset([greet], audit=audit)
    await ts.call("greet", {"name": "a"})
    await ts.call("greet", {"name": "b"})
    assert len(path.read_text().splitlines()) == 2
    await ts.call("greet", {"name": "c"})
    audit.flush()
    assert len(path.read_text().splitlines()) == 3
    audit.close()
    audit.close()
    assert len(read_audit_log(path)) == 3
