"""The overhead benchmark runs and reports consistent figures (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tool_overhead_benchmark_prints_one_json_line() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "tool_overhead.py"), "--calls", "300", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["calls"] == 300 and figures["hooks"] == 3
    assert abs(figures["overhead_us"] - (figures["phalanx_us"] - figures["direct_us"])) < 0.01
