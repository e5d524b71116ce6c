"""examples/models_backends.py runs offline and shows batching and serving working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "models_backends.py"


def test_models_backends_example_runs() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "6 concurrent calls ran in batches of sizes [6]" in out
    assert "serving on http://127.0.0.1:" in out
    assert "openai: backend got" in out
