"""The example runs, and the CLI commands work end to end offline."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

from typer.testing import CliRunner

from phalanx.cli.app import app

ROOT = Path(__file__).resolve().parents[3]


def test_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "longagent_team.py"), run_name="__main__")
    out = capsys.readouterr().out
    answer, gold = re.search(r"answer:\s+(\S+) \(gold (\S+)\)", out).groups()
    assert answer == gold and "status=answered" in out and "members:  30" in out


def test_cli_ask_and_report(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(
        "The river was quiet. " * 50 + "The secret code of the Arden vault is 31337. " + "Rain fell. " * 50
    )
    report = tmp_path / "report.json"
    res = CliRunner().invoke(
        app,
        [
            "longagent",
            "ask",
            "--doc",
            str(doc),
            "-q",
            "What is the secret code of the Arden vault?",
            "--chunk-tokens",
            "40",
            "--json",
            "--report",
            str(report),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["answer"] == "31337" and out["status"] == "answered" and out["num_members"] > 5
    assert json.loads(report.read_text())["conflict_graph"]["nodes"]


def test_cli_ask_resume_from_sqlite(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("The secret code of the Arden vault is 31337. Quiet fields. " * 3)
    ckpt = f"sqlite:{tmp_path / 'c.sqlite'}"
    args = ["longagent", "ask", "--checkpoint", ckpt, "--thread-id", "run1"]
    question = ["-q", "What is the secret code of the Arden vault?"]
    assert CliRunner().invoke(app, [*args, *question, "--doc", str(doc)]).exit_code == 0
    res = CliRunner().invoke(app, [*args, "--resume"])  # the question comes from the checkpoint
    assert res.exit_code == 0 and "answer: 31337" in res.output


def test_cli_errors_are_clear(tmp_path):
    res = CliRunner().invoke(app, ["longagent", "ask", "--doc", __file__])
    assert res.exit_code == 2 and "--question" in res.output
    res = CliRunner().invoke(app, ["longagent", "ask", "-q", "x", "--doc", str(tmp_path / "nope.txt")])
    assert res.exit_code == 2 and "is not a file" in res.output
    res = CliRunner().invoke(app, ["longagent", "ask", "-q", "x", "--doc", __file__, "--member", "bogus"])
    assert res.exit_code == 2 and "SCHEME:TARGET" in res.output
    res = CliRunner().invoke(app, ["longagent", "niah", "--lengths", "lots", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "bad length" in res.output
    res = CliRunner().invoke(app, ["longagent", "ask", "-q", "x", "--doc", __file__, "--chunk-tokens", "all"])
    assert res.exit_code == 2 and "a number or 'fill'" in res.output


def test_cli_task_description_and_fill(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("The secret code of the Arden vault is 31337. Quiet fields. " * 3)
    args = ["longagent", "ask", "--doc", str(doc), "-q", "What is the secret code of the Arden vault?"]
    res = CliRunner().invoke(
        app, [*args, "--chunk-tokens", "fill", "--task-description", "Find the code.", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["answer"] == "31337" and out["num_members"] == 1  # scripted members: fill = the default 1,500


def test_cli_niah(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "longagent",
            "niah",
            "--lengths",
            "1k,2k",
            "--depths",
            "0,100",
            "--needles",
            "single",
            "--chunk-tokens",
            "300",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["cases"] == 4 and summary["exact_match"] == 1.0
    assert (tmp_path / "heatmap.png").exists() and (tmp_path / "report.html").exists()
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4
