"""examples/tools_agent.py runs offline and does what its docstring says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from phalanx.tools import read_audit_log

ROOT = Path(__file__).resolve().parents[2]


def test_tools_agent_example(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tools_agent.py"), "--audit", str(audit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(out.stdout)
    assert summary["stop_reason"] == "final_answer"
    assert "385" in summary["answer"]
    assert summary["tool_calls"] == [["python", "ok"], ["read_file", "ok"], ["drop_table", "blocked"]]
    records = read_audit_log(audit)
    assert [r.status for r in records] == ["ok", "ok", "blocked"]
    assert records[2].verdicts[0].hook == "BlockDestructive"
