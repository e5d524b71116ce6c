"""`phalanx models list | path | pull` and examples/real_model.py on a pulled store."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

from typer.testing import CliRunner

from phalanx.cli.app import app

NAME = "smollm2-135m-instruct"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "real_model.py"


def test_list_json_path_and_pull(interrupted_then_pulled, tmp_path) -> None:
    home = interrupted_then_pulled.home
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--json"], env={"PHALANX_HOME": str(home)})
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["name"] == NAME and entry["path"] == str(home / "models" / NAME)
    assert entry["source"].startswith("file:") and entry["size_bytes"] > 250_000_000

    path = runner.invoke(app, ["models", "path", NAME], env={"PHALANX_HOME": str(home)})
    assert (path.exit_code, path.stdout) == (0, f"{home / 'models' / NAME}\n")

    again = runner.invoke(app, ["models", "pull", NAME], env={"PHALANX_HOME": str(home), "COLUMNS": "300"})
    assert again.exit_code == 0, again.output
    assert "already installed" in again.output

    empty = {"PHALANX_HOME": str(tmp_path)}
    assert json.loads(runner.invoke(app, ["models", "list", "--json"], env=empty).stdout) == []
    missing = runner.invoke(app, ["models", "path", NAME], env=empty)
    assert missing.exit_code == 1 and f"run `phalanx models pull {NAME}`" in missing.output
    unknown = runner.invoke(app, ["models", "pull", "nope"], env=empty)
    assert unknown.exit_code == 1 and f"known models: {NAME}" in unknown.output


def test_real_model_example_answers(interrupted_then_pulled, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PHALANX_HOME", str(interrupted_then_pulled.home))
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")  # in-process: no second torch import
    out = capsys.readouterr().out
    assert f"{NAME}: already installed" in out
    assert "A: " in out and "Paris" in out.split("A: ", 1)[1]
