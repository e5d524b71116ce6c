"""`phalanx evolve DATA` and `phalanx evolve eval` end to end with the scripted agents."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from phalanx.agents.selfevolve import Mode, read_evolved
from phalanx.cli.app import app

runner = CliRunner()


def test_evolve_kinship_all_modes_then_eval_report(tmp_path: Path) -> None:
    out = tmp_path / "kin"
    res = runner.invoke(
        app, ["evolve", "embedded:kinship", "--limit", "5", "--out", str(out), "--concurrency", "4"]
    )
    assert res.exit_code == 0, res.output
    assert "retrieval" in res.output
    records = read_evolved(out)
    assert {r.mode for r in records} == set(Mode) and len(records) == 40
    res = runner.invoke(
        app,
        ["evolve", "eval", "--models", "scripted:evolve-solver,scripted:evolve-guesser", "--data", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert (out / "report.html").exists() and "report:" in res.output


def test_run_alias_json_and_resume(tmp_path: Path) -> None:
    args = ["evolve", "run", "embedded:arithmetic", "--ops", "addnoise,reversepolar", "--limit", "3",
            "--out", str(tmp_path), "--json"]  # fmt: skip
    first = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    assert first["written"] == 6 and first["modes"] == ["noise", "polarity"]
    second = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    assert (second["written"], second["skipped"]) == (0, 6)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["evolve", "embedded:kinship", "--ops", "shuffle", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown evolve operation 'shuffle'" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    res = runner.invoke(app, ["evolve", str(bad), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "bad.jsonl:1: missing field 'answer'" in res.output
    res = runner.invoke(
        app, ["evolve", "eval", "--models", "scripted:evolve-solver", "--data", str(tmp_path / "x")]
    )
    assert res.exit_code == 2 and "no evolved.jsonl" in res.output
