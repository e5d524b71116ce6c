"""examples/models_backends.py runs offline and shows batching and serving working."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "models_backends.py"


def test_models_backends_example_runs(capsys, monkeypatch) -> None:
    # In-process (runpy) so the test does not pay for a second torch import.
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "6 concurrent calls ran in batches of sizes [6]" in out
    assert "serving on http://127.0.0.1:" in out
    assert "openai: backend got" in out
