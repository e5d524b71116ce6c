"""examples/input_guard.py runs: trains, measures and uses a request classifier from user sets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_input_guard_example(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "input_guard.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "my_request_classifier.npz").exists() and (tmp_path / "policy.yaml").exists()
    lines = proc.stdout.splitlines()
    assert any(line.startswith("trained") for line in lines)
    assert any(line.startswith("passed") and "barbecue" in line for line in lines)
