"""Evaluate many (problem, program) pairs concurrently through a sandbox pool; JSONL out; resumable."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from phalanx.agents.stepcoder.errors import DatasetError
from phalanx.agents.stepcoder.executor import Executor, ExecutorConfig
from phalanx.agents.stepcoder.sandboxes import APPS_IMAGE, open_apps_sandbox
from phalanx.agents.stepcoder.types import Problem, ProgramResult
from phalanx.sandbox import Sandbox, SandboxUnavailable


class Job(NamedTuple):
    """One program to run against one problem."""

    problem: Problem
    program: str
    sample: int = 0


def program_sha(program: str) -> str:
    """A short content hash of a program (identifies identical work across resumed runs)."""
    return hashlib.sha256(program.encode("utf-8")).hexdigest()[:16]


def read_results(path: str | Path) -> dict[str, ProgramResult]:
    """Results already written to a JSONL file, by `key`; a torn last line (killed run) is ignored.

    Raises:
        DatasetError: a line other than the last is not a valid result.
    """
    p = Path(path)
    if not p.is_file():
        return {}
    done: dict[str, ProgramResult] = {}
    lines = p.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            res = ProgramResult.model_validate_json(line)
        except ValueError as exc:
            if lineno == len(lines):  # interrupted mid-write: redo that one
                break
            raise DatasetError(f"{p}:{lineno}: not a result line ({str(exc).splitlines()[0]})") from None
        done[res.key] = res
    return done


async def run_batch(
    executor: Executor,
    jobs: Iterable[Job],
    *,
    out_path: str | Path | None = None,
    concurrency: int = 4,
    progress: bool = True,
    description: str = "executing",
    on_result: Callable[[ProgramResult], None] | None = None,
    give_up_after: int = 8,
) -> list[ProgramResult]:
    """Run every job through `executor`, `concurrency` at a time.

    With `out_path`, each result is appended to that JSONL file as soon as it is known,
    and a rerun with the same path skips jobs whose (key, program hash) is already
    there, so an interrupted batch loses nothing.

    A job the sandbox could not run (`SandboxUnavailable`, after the sandbox's own retries) gets
    a result with `infra_error` set: not a verdict, not written to the file, run again by a
    resumed batch. After `give_up_after` such jobs in a row the sandbox is taken to be down and
    the jobs not yet started get the same kind of result without being tried.

    Returns:
        One result per job, in job order (resumed ones read back from the file).
    """
    job_list: Sequence[Job] = list(jobs)
    done = read_results(out_path) if out_path else {}
    results: list[ProgramResult | None] = [None] * len(job_list)
    todo: list[int] = []
    for i, job in enumerate(job_list):
        prev = done.get(f"{job.problem.problem_id}#{job.sample}")
        # A harness error is no verdict either (files written before infrastructure errors existed
        # hold dead containers as harness errors): it runs again.
        if prev is not None and prev.program_sha == program_sha(job.program) and prev.harness_error is None:
            results[i] = prev
        else:
            todo.append(i)
    out_fh = None
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        out_fh = Path(out_path).open("a", encoding="utf-8")
    sem = asyncio.Semaphore(max(1, concurrency))
    bar = _Progress(len(job_list), len(job_list) - len(todo), description, enabled=progress)
    breaker = _Breaker(give_up_after)

    async def one(i: int) -> None:
        job = job_list[i]
        async with sem:
            if breaker.reason is not None:
                res = _not_run(job, breaker.reason)
            else:
                try:
                    res = await executor.run(job.problem, job.program)
                except SandboxUnavailable as exc:
                    res = _not_run(job, str(exc))
                    breaker.failed(str(exc))
                else:
                    breaker.reset()
        res.sample = job.sample
        res.program_sha = program_sha(job.program)
        results[i] = res
        if out_fh is not None and res.infra_error is None:
            out_fh.write(res.model_dump_json() + "\n")
            out_fh.flush()
        bar.advance(res)
        if on_result is not None:
            on_result(res)

    tasks = [asyncio.ensure_future(one(i)) for i in todo]
    try:
        with bar:
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                # Interrupted (or a bug): stop the rest; what is written stays for a resume.
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
    finally:
        if out_fh is not None:
            out_fh.close()
    return [r for r in results if r is not None]


def _not_run(job: Job, why: str) -> ProgramResult:
    return ProgramResult(
        problem_id=job.problem.problem_id, difficulty=job.problem.difficulty, infra_error=why
    )


class _Breaker:
    """Counts jobs in a row that the sandbox could not run; past a limit, the rest are not tried."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_a_row = 0
        self.reason: str | None = None

    def failed(self, why: str) -> None:
        self.in_a_row += 1
        if self.in_a_row >= self.limit and self.reason is None:
            self.reason = f"not tried: the sandbox failed {self.in_a_row} executions in a row (last: {why})"

    def reset(self) -> None:
        self.in_a_row = 0


def progress_bar(description: str, total: int, completed: int = 0) -> tuple[Any, Any]:
    """A rich progress bar (description, bar, done/total, a `status` field, time left) and its task."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        transient=False,
    )
    return bar, bar.add_task(description, total=total, completed=completed, status="")


class _Progress:
    """A rich progress bar that counts passes, failures and jobs not run (silent when disabled)."""

    def __init__(self, total: int, already: int, description: str, *, enabled: bool) -> None:
        self.enabled = enabled
        self.passed = self.failed = self.not_run = 0
        self.description = description
        if enabled:
            self._bar, self._task = progress_bar(description, total, already)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)

    def advance(self, result: ProgramResult) -> None:
        if result.infra_error is not None:
            self.not_run += 1
        elif result.passed:
            self.passed += 1
        else:
            self.failed += 1
        if self.enabled:
            status = f"[green]{self.passed} passed[/] [red]{self.failed} failed[/]"
            if self.not_run:
                status += f" [yellow]{self.not_run} not run[/]"
            self._bar.update(self._task, advance=1, status=status)


async def run_batch_in_sandbox(
    jobs: Iterable[Job],
    *,
    sandbox: Sandbox | None,
    backend: str = "docker",
    image: str = APPS_IMAGE,
    workers: int = 4,
    config: ExecutorConfig | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
    description: str = "executing",
) -> list[ProgramResult]:
    """`run_batch` in `sandbox`, or in one opened from `backend`/`image`/`workers` and closed after.

    With `out_dir`, results go to (and resume from) `out_dir/results.jsonl`.
    """
    own = sandbox is None
    sb = sandbox if sandbox is not None else open_apps_sandbox(backend, image=image, workers=workers)
    try:
        return await run_batch(
            Executor(sb, config),
            jobs,
            out_path=out_dir / "results.jsonl" if out_dir else None,
            concurrency=workers,
            progress=progress,
            description=description,
        )
    finally:
        if own:
            await sb.aclose()
