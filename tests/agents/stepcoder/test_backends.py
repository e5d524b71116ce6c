"""The executor through the explicitly requested local backend, and backend selection errors."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

from phalanx.agents.stepcoder import Executor, ExecutorConfig, ExecutorError, open_apps_sandbox
from phalanx.cli.app import app


async def test_local_backend_runs_both_io_modes(make_problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local backend warns that it is not isolation
        sandbox = open_apps_sandbox("local", workers=1)
    try:
        ex = Executor(sandbox, ExecutorConfig(case_timeout_s=2))
        stdin = make_problem("stdin", ["2 3\n", "1 1\n"], ["5\n", "3\n"], fn_name="main")
        res = await ex.run(stdin, "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n")
        assert [c.outcome for c in res.cases] == ["pass", "wrong_answer"] and res.reward == pytest.approx(
            -0.3
        )
        call = make_problem("call", [['"abc"'], ['"x"']], [['"cba"'], ['"x"']], fn_name="rev")
        res = await ex.run(call, "def rev(s):\n    return s[::-1]\n")
        assert res.passed and res.reward == 1.0
    finally:
        await sandbox.aclose()


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ExecutorError, match="unknown sandbox backend 'host'"):
        open_apps_sandbox("host")
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"starter_code": "def f(x):\n", "inputs": [[1]], "outputs": [[1]]}) + "\n")
    res = CliRunner().invoke(app, ["apps", "verify", str(data), "--sandbox", "host"])
    assert res.exit_code == 2 and "unknown sandbox backend" in res.output
