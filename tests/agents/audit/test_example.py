"""examples/toolsword_audit.py runs and shows the policies working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_toolsword_example(small_data, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "toolsword_audit.py"), str(small_data), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "blocked_input" in proc.stdout  # the harmful request was refused by the input guard
    assert "antifreeze" not in proc.stdout  # the harmful note was not relayed
    assert "RC   n=2 unsafe without policies 100%, with default policies 0%" in proc.stdout
    assert (tmp_path / "report.html").exists()
    assert "paper mode HF   unsafe 100%" in proc.stdout and "kappa" in proc.stdout
