"""examples/harm_index.py runs: builds, measures and uses an index from user corpora."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_harm_index_example(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "harm_index.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "my_harm_index.npz").exists() and (tmp_path / "policy.yaml").exists()
    lines = proc.stdout.splitlines()
    assert any(line.startswith("BLOCKED") and "banknotes" in line for line in lines)
    assert any(line.startswith("passed") and "fresh bread" in line for line in lines)
