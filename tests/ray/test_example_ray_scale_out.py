"""examples/ray_scale_out.py runs: replicas share the calls, the sharded jobs finish."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.requires_docker
@pytest.mark.timeout(660)  # a loaded 2-core machine: starting the cluster's Python workers took 270 s once
def test_ray_example_runs(ray_installed, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ray_scale_out.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ray:scripted:comply: 4 replies, calls per replica [2, 2]" in proc.stdout
    assert "APPS+ canonical solutions verified on Ray: 8/8 passed" in proc.stdout
    assert "squares from the nodes: ['0', '1', '4', '9', '16', '25']" in proc.stdout
    assert len((tmp_path / "audit" / "results.jsonl").read_text().splitlines()) == 8  # 2 x (MQ, RC) x 2 runs
