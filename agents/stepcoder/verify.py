"""`verify_apps`: run every canonical solution against its own tests (the check APPS+ was built with)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from phalanx.agents.stepcoder.batch import Job, run_batch_in_sandbox
from phalanx.agents.stepcoder.data import load_problems
from phalanx.agents.stepcoder.executor import ExecutorConfig
from phalanx.agents.stepcoder.sandboxes import APPS_IMAGE
from phalanx.agents.stepcoder.types import Problem, ProgramResult
from phalanx.sandbox import Sandbox

DIFFICULTY_ORDER = ("introductory", "interview", "competition", "unknown")


class DifficultySummary(BaseModel):
    """The problems of one difficulty level."""

    problems: int = 0
    passed: int = 0
    not_run: int = 0
    """Problems the sandbox could not run (infrastructure faults, no verdict)."""

    @property
    def failed(self) -> int:
        """Problems whose canonical solution ran and failed its tests."""
        return self.problems - self.passed - self.not_run


class VerifyFailure(BaseModel):
    """A problem whose canonical solution fails its own tests, and why."""

    problem_id: str
    difficulty: str
    case: int | None
    """Index of the first failing case (None for a harness error)."""
    outcome: str
    detail: str
    stderr_tail: str = ""


class NotRun(BaseModel):
    """A problem whose canonical solution the sandbox could not run: no verdict, retried on resume."""

    problem_id: str
    difficulty: str
    reason: str


class VerifySummary(BaseModel):
    """What `summary.json` holds."""

    problems: int
    passed: int
    failed: int
    """Problems whose canonical solution ran and failed its tests."""
    by_difficulty: dict[str, DifficultySummary]
    by_outcome: dict[str, int] = Field(default_factory=dict)
    """First-failure outcome counts over failing problems."""
    cases: int = 0
    """Test cases executed."""
    failures: list[VerifyFailure] = Field(default_factory=list)
    not_run: list[NotRun] = Field(default_factory=list)
    """Problems left without a verdict by infrastructure faults (rerun with the same `--out`)."""


def summarise(problems: Sequence[Problem], results: Sequence[ProgramResult]) -> VerifySummary:
    """Tally results per difficulty and explain every failure; problems not run are apart."""
    by_id = {r.problem_id: r for r in results}
    by_diff: dict[str, DifficultySummary] = {}
    failures: list[VerifyFailure] = []
    not_run: list[NotRun] = []
    by_outcome: dict[str, int] = {}
    for p in problems:
        r = by_id.get(p.problem_id)
        d = by_diff.setdefault(p.difficulty, DifficultySummary())
        d.problems += 1
        if r is None or r.infra_error is not None:
            d.not_run += 1
            reason = "not run" if r is None else str(r.infra_error)
            not_run.append(NotRun(problem_id=p.problem_id, difficulty=p.difficulty, reason=reason))
            continue
        if r.passed:
            d.passed += 1
            continue
        f = r.first_failure
        outcome = "harness_error" if f is None else f.outcome
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        failures.append(
            VerifyFailure(
                problem_id=p.problem_id,
                difficulty=p.difficulty,
                case=None if f is None else f.index,
                outcome=outcome,
                detail=(r.harness_error or "no test case ran") if f is None else f.detail,
                stderr_tail="" if f is None else f.stderr_tail,
            )
        )
    ordered = {k: by_diff[k] for k in DIFFICULTY_ORDER if k in by_diff}
    passed = sum(d.passed for d in ordered.values())
    return VerifySummary(
        problems=len(problems),
        passed=passed,
        failed=len(failures),
        by_difficulty=ordered,
        by_outcome=by_outcome,
        cases=sum(len(r.cases) for r in results),
        failures=failures,
        not_run=not_run,
    )


async def verify_apps(
    data: str | Path | None = None,
    *,
    sandbox: Sandbox | None = None,
    backend: str = "docker",
    image: str = APPS_IMAGE,
    workers: int = 4,
    out_dir: str | Path | None = None,
    config: ExecutorConfig | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> VerifySummary:
    """Run each problem's canonical solution against its tests and report the failures.

    Args:
        data: APPS+ `.jsonl`/`.json` or an APPS folder; None means the sample shipped with phalanx.
        sandbox: an open sandbox to use (not closed here); otherwise one is opened from
            `backend`/`image`/`workers` and closed at the end.
        out_dir: write `summary.json`, `results.jsonl` (resumable) and `report.html` there.
        config: executor limits.
        limit: only the first `limit` problems.

    Returns:
        The summary; problems the sandbox could not run (infrastructure faults, after retries)
        are in `not_run`, never in `failed`, and a rerun with the same `out_dir` runs them.

    Raises:
        DatasetError: unreadable data. SandboxUnavailable: the sandbox cannot be opened.
    """
    problems = load_problems(data, limit=limit)
    out = Path(out_dir) if out_dir is not None else None
    results = await run_batch_in_sandbox(
        [Job(p, p.canonical_solution) for p in problems],
        sandbox=sandbox,
        backend=backend,
        image=image,
        workers=workers,
        config=config,
        out_dir=out,
        progress=progress,
        description="verifying",
    )
    summary = summarise(problems, results)
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n")
        (out / "report.html").write_text(render_html(summary), encoding="utf-8")
    return summary


def render_html(summary: VerifySummary) -> str:
    """A self-contained HTML report of a verification run."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    return env.get_template("verify_report.html.j2").render(s=summary)
