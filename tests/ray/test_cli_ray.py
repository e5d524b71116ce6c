"""`--ray ADDRESS` on the CLI: the same audit as in-process; a wrong address is a clear error."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from phalanx.cli.app import app

runner = CliRunner()


def test_audit_with_ray_prints_the_in_process_summary(ray_cluster, tmp_path) -> None:
    args = [
        "audit",
        "toolsword",
        "--model",
        "scripted:refuse",
        "--scenarios",
        "MQ,RC",
        "--limit",
        "1",
        "--json",
    ]
    here = runner.invoke(app, [*args, "--out", str(tmp_path / "here")])
    there = runner.invoke(app, [*args, "--out", str(tmp_path / "there"), "--ray", ray_cluster.address])
    assert here.exit_code == 0 and there.exit_code == 0, there.output
    assert json.loads(there.stdout) == json.loads(here.stdout)


def test_an_unreachable_cluster_is_reported_without_a_traceback(ray_cluster, tmp_path) -> None:
    result = runner.invoke(
        app, ["apps", "verify", "--limit", "1", "--out", str(tmp_path), "--ray", "127.0.0.1:1", "--json"]
    )
    assert result.exit_code == 2
    assert "no Ray cluster answers at 127.0.0.1:1" in result.output
    assert "Traceback" not in result.output
