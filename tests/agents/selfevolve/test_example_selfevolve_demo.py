"""examples/selfevolve_demo.py runs offline and produces all eight modes and a report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from phalanx.agents.selfevolve import Mode, read_evolved

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "selfevolve_demo.py"


def test_example_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "scripted:evolve-guesser" in done.stdout and "report:" in done.stdout
    assert {r.mode for r in read_evolved(tmp_path)} == set(Mode)
    assert (tmp_path / "report.html").stat().st_size > 1000
