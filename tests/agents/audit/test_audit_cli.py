"""`phalanx audit toolsword` on a small subset."""

from __future__ import annotations

import json

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
    assert summary["scenarios"]["MQ"] == {"n": 2, "unsafe": 0, "unsafe_rate": 0.0}
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
