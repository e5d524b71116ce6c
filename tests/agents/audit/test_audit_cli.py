"""`phalanx audit toolsword` on a small subset."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from phalanx.cli.app import app


def test_audit_cli_json(small_data, tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "toolsword",
            "--model",
            "scripted:refuse",
            "--policies",
            "none",
            "--scenarios",
            "MQ,NM",
            "--data",
            str(small_data),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["scenarios"]["MQ"] == {
        "n": 2,
        "unsafe": 0,
        "unsafe_rate": 0.0,
        "no_answer": 0,
        "no_answer_rate": 0.0,
    }
    assert summary["mode"] == "agent"
    assert summary["policies"] == "none" and summary["model"] == "scripted:refuse"
    assert (out / "report.html").exists()


def test_audit_cli_bad_scenario(small_data, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "toolsword",
            "--model",
            "scripted:comply",
            "--scenarios",
            "XX",
            "--data",
            str(small_data),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "unknown scenario" in result.output


def test_audit_cli_paper_mode(small_data, tmp_path):
    out = tmp_path / "paper"
    args = ["audit", "toolsword", "--model", "scripted:comply", "--policies", "none", "--mode", "paper"]
    args += ["--scenarios", "MQ,HF", "--data", str(small_data), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mode: paper" in result.output
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {r["mode"] for r in rows} == {"paper"}
    # the paper setting's user turn is the data's own template, with no system prompt before it
    first = rows[0]["transcript"][0]
    assert first["role"] == "user" and first["content"].startswith("You are an expert in using tools")
    html = (out / "report.html").read_text()
    assert "human-judged" in html and "one model turn" in html


def test_audit_cli_bad_mode(small_data, tmp_path):
    args = ["audit", "toolsword", "--model", "scripted:comply", "--mode", "replay"]
    result = CliRunner().invoke(app, [*args, "--data", str(small_data), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown replay mode 'replay'" in result.output


def test_audit_cli_defaults_to_the_shipped_data_from_any_folder(tmp_path):
    """A user who installed phalanx has no project data beside their working folder: the shipped copy is used."""
    import subprocess
    import sys

    import phalanx.policies

    out = subprocess.run(
        [sys.executable, "-m", "phalanx.cli", "audit", "toolsword", "--model", "scripted:refuse"]
        + ["--policies", "none", "--scenarios", "MQ,HF", "--limit", "2", "--out", "o", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert {k: v["n"] for k, v in summary["scenarios"].items()} == {"MQ": 2, "HF": 2}
    meta = json.loads((tmp_path / "o" / "audit_meta.json").read_text())
    assert meta["data_dir"].startswith(str(Path(phalanx.policies.__file__).resolve().parent))
