"""Batch execution (JSONL, resume), `verify_apps` + `phalanx apps verify`, `evaluate_model`, pass@k."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from phalanx.agents.stepcoder import (
    Executor,
    ExecutorConfig,
    Job,
    compute_reward,
    evaluate_model,
    load_problems,
    pass_at_k,
    read_results,
    run_batch,
    summarise,
)
from phalanx.agents.stepcoder.verify import render_html
from phalanx.cli.app import app

ROOT = Path(__file__).resolve().parents[3]


@given(n=st.integers(1, 7), data=st.data())
def test_pass_at_k_matches_brute_force(n, data):
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(2, 1, 3)


class CountingSandbox:
    """Wraps a real sandbox and counts executions (to prove resumed work is skipped)."""

    name = "counting"

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    async def execute(self, request):
        self.calls += 1
        return await self.inner.execute(request)

    async def aclose(self) -> None:
        return None


@pytest.mark.requires_docker
async def test_batch_writes_jsonl_and_resumes(apps_sandbox, sample_path, tmp_path):
    problems = load_problems(sample_path, limit=4)
    jobs = [Job(p, p.canonical_solution, s) for p in problems for s in range(2)]
    jobs[1] = Job(problems[0], "def broken(:\n", 1)
    out = tmp_path / "results.jsonl"
    sb = CountingSandbox(apps_sandbox)
    ex = Executor(sb, ExecutorConfig(stop_on_failure=True))
    first = await run_batch(ex, jobs, out_path=out, concurrency=2, progress=False)
    assert sb.calls == 8 and [r.key for r in first] == [f"{j.problem.problem_id}#{j.sample}" for j in jobs]
    assert [r.passed for r in first].count(False) == 1 and first[1].reward == -1.0
    assert len(out.read_text().splitlines()) == 8

    # A killed run leaves a torn last line: it is ignored and that job is redone.
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    assert len(read_results(out)) == 7
    jobs[1] = Job(problems[0], problems[0].canonical_solution, 1)  # a changed program is re-run too
    again = await run_batch(ex, jobs, out_path=out, concurrency=2, progress=True)
    assert sb.calls == 8 + 2
    assert all(r.passed for r in again)


def test_verify_cli_missing_data_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(app, ["apps", "verify", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2
    assert "no such file" in res.output


@pytest.mark.requires_docker
def test_verify_cli_reports_per_difficulty_and_explains_failures(sample_path, tmp_path):
    records = [json.loads(line) for line in sample_path.read_text().splitlines()[:3]]
    records += [json.loads(line) for line in sample_path.read_text().splitlines()[150:152]]
    records[1]["outputs"][0] = "certainly wrong\n"  # a broken problem: its tests disagree with its solution
    data = tmp_path / "five.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["apps", "verify", str(data), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 1, res.output
    bad = records[1]["source_index"]
    assert re.search(rf"FAIL {bad} \(\w+\) case 0: wrong_answer", res.output)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["problems"], summary["passed"], summary["failed"]) == (5, 4, 1)
    levels = {}
    for r in records:
        levels.setdefault(r["difficulty"], [0, 0])[0] += 1
    for level, (n, _) in levels.items():
        assert summary["by_difficulty"][level]["problems"] == n
    assert sum(d["passed"] for d in summary["by_difficulty"].values()) == 4
    assert len((out / "results.jsonl").read_text().splitlines()) == 5
    html = (out / "report.html").read_text()
    assert "certainly wrong" in html and "wrong_answer" in html


@pytest.mark.requires_docker
def test_verify_cli_compares_bool_results_as_the_official_executor(tmp_path):
    """A call-based solution returning True/False where 1/0 is stored passes (APPS+ asserts with ==),
    unless --compare strict is asked for."""
    record = {
        "prompt": "\ndef positive(x):\n    'Is x positive? 1 or 0.'\n",
        "starter_code": "\ndef positive(x):\n",
        "canonical_solution": "\ndef positive(x):\n    return x > 0\n",
        "inputs": [[5], [-2]],
        "outputs": [[1], [0]],
        "difficulty": "introductory",
    }
    data = tmp_path / "bool.jsonl"
    data.write_text(json.dumps(record) + "\n")
    official = CliRunner().invoke(app, ["apps", "verify", str(data), "--workers", "1", "--json"])
    assert official.exit_code == 0, official.output
    assert json.loads(official.stdout)["passed"] == 1
    strict = CliRunner().invoke(app, ["apps", "verify", str(data), "--workers", "1", "--compare", "strict"])
    assert strict.exit_code == 1 and "returned True, expected 1" in strict.output
    bad = CliRunner().invoke(app, ["apps", "verify", str(data), "--compare", "loose"])
    assert bad.exit_code == 2 and "--compare must be 'official' or 'strict'" in bad.output


@pytest.mark.requires_docker
async def test_evaluate_model_pass_at_k(apps_sandbox, sample_path, tmp_path):
    from phalanx.models.scripted import ScriptedModel

    problems = load_problems(sample_path, limit=3)
    calls = {"n": 0}

    def answer(messages, tools):
        # Solves the first problem every time, the second on every other sample, never the third.
        text = messages[-1].content
        p = next(p for p in problems if p.prompt.strip() in text)
        calls["n"] += 1
        if p is problems[0] or (p is problems[1] and calls["n"] % 2):
            return f"Here you go:\n```python\n{p.canonical_solution}\n```"
        return "```python\nprint('no idea')\n```"

    summary = await evaluate_model(
        ScriptedModel(answer), sample_path, n=4, ks=[1, 2], limit=3, sandbox=apps_sandbox, out_dir=tmp_path
    )
    assert summary.problems == 3 and calls["n"] == 12
    # pass@1 = mean c/n = (4/4 + 2/4 + 0/4) / 3; pass@2 = (1 + (1 - C(2,2)/C(4,2)) + 0) / 3
    assert summary.overall.pass_at["1"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary.overall.pass_at["2"] == pytest.approx((1 + (1 - 1 / 6) + 0) / 3)
    assert len((tmp_path / "samples.jsonl").read_text().splitlines()) == 12
    with pytest.raises(ValueError, match="between 1 and n"):
        await evaluate_model(ScriptedModel(answer), sample_path, n=2, ks=[3], sandbox=apps_sandbox)


@pytest.mark.requires_docker
def test_example_runs():
    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "stepcoder_verify.py"), "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "3/3 canonical solutions pass" in res.stdout
    assert "reward +1.0" in res.stdout and "reward -1.0" in res.stdout


@pytest.mark.requires_docker
def test_eval_cli_with_a_scripted_model(tmp_path):
    problems = [
        {
            "prompt": "\ndef add(a, b):\n    'Add.'\n",
            "starter_code": "\ndef add(a, b):\n",
            "difficulty": "introductory",
        },
        {
            "prompt": "\ndef mul(a, b):\n    'Multiply.'\n",
            "starter_code": "\ndef mul(a, b):\n",
            "difficulty": "interview",
        },
    ]
    data = tmp_path / "two.jsonl"
    data.write_text(
        "".join(
            json.dumps(p | {"inputs": [[2, 3]], "outputs": [[5 if "add" in p["prompt"] else 6]]}) + "\n"
            for p in problems
        )
    )
    script = tmp_path / "model.json"
    script.write_text(
        json.dumps(
            {
                "rules": [
                    {"contains": "def add", "reply": "```python\ndef add(a, b):\n    return a + b\n```"}
                ],
                "default": "```python\ndef mul(a, b):\n    return a + b\n```",
            }
        )
    )
    res = CliRunner().invoke(
        app, ["apps", "eval", "--model", f"scripted:{script}", str(data), "--n", "2", "--k", "1,2", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["overall"]["pass_at"] == {"1": 0.5, "2": 0.5}
    assert summary["by_difficulty"]["introductory"]["pass_at"]["1"] == 1.0
    assert summary["by_difficulty"]["interview"]["pass_at"]["2"] == 0.0
    bad = CliRunner().invoke(
        app, ["apps", "eval", "--model", f"scripted:{script}", str(data), "--n", "1", "--k", "2"]
    )
    assert bad.exit_code == 2 and "between 1 and n" in bad.output


class FailingSandbox:
    """Runs two executions through a real sandbox, then reports the sandbox gone."""

    name = "failing"

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    async def execute(self, request):
        from phalanx.sandbox import SandboxUnavailable

        self.calls += 1
        if self.calls > 2:
            raise SandboxUnavailable("daemon went away")
        return await self.inner.execute(request)

    async def aclose(self) -> None:
        return None


@pytest.mark.requires_docker
async def test_sandbox_faults_are_not_verdicts_and_a_resume_runs_them(apps_sandbox, sample_path, tmp_path):
    problems = load_problems(sample_path, limit=6)
    jobs = [Job(p, p.canonical_solution) for p in problems]
    out = tmp_path / "r.jsonl"
    failing = FailingSandbox(apps_sandbox)
    first = await run_batch(
        Executor(failing), jobs, out_path=out, concurrency=1, progress=False, give_up_after=2
    )
    # Two ran; two met the dead sandbox; after two in a row the last two were not even tried.
    assert failing.calls == 4
    assert [r.passed for r in first] == [True, True, False, False, False, False]
    assert [r.infra_error is not None for r in first] == [False, False, True, True, True, True]
    assert "daemon went away" in first[2].infra_error and first[4].infra_error.startswith("not tried")
    assert first[2].explain().startswith("not run: ")
    with pytest.raises(ValueError, match="was not run"):
        compute_reward(first[2])
    assert summarise(problems, first).model_dump(include={"passed", "failed"}) == {"passed": 2, "failed": 0}
    summary = summarise(problems, first)
    assert [n.problem_id for n in summary.not_run] == [p.problem_id for p in problems[2:]]
    # a problem not run is neither passed nor failed, per difficulty too
    for level in summary.by_difficulty.values():
        assert level.failed == 0 and level.passed + level.not_run == level.problems
    html = render_html(summary)
    assert "4 not run" in html and "Not run" in html and "daemon went away" in html
    # Only verdicts are written; a dead container recorded as a harness error (as older files hold) reruns too.
    assert len(read_results(out)) == 2
    stale = first[0].model_copy(update={"harness_error": "the sandbox container died", "passed": False})
    out.write_text(out.read_text() + stale.model_dump_json() + "\n")
    sb = CountingSandbox(apps_sandbox)
    done = await run_batch(Executor(sb), jobs, out_path=out, concurrency=2, progress=False)
    assert sb.calls == 5 and all(r.passed and r.infra_error is None for r in done)


def test_eval_leaves_problems_with_unrun_samples_out_of_pass_at_k():
    from phalanx.agents.stepcoder import Problem, ProgramResult
    from phalanx.agents.stepcoder.eval import summarise_eval

    problems = [Problem(problem_id=i, io_mode="call", inputs=[[1]], outputs=[[1]]) for i in "ab"]
    ran = [ProgramResult(problem_id=i, sample=s, passed=True) for i in "ab" for s in range(2)]
    ran[3] = ProgramResult(problem_id="b", sample=1, infra_error="the sandbox container died")
    summary = summarise_eval("m", problems, ran, n=2, ks=[1])
    assert (summary.incomplete, summary.not_run, summary.overall.problems) == (1, 1, 1)
    assert summary.overall.pass_at == {"1": 1.0}
