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
from phalanx.sandbox import Sandbox


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
) -> list[ProgramResult]:
    """Run every job through `executor`, `concurrency` at a time.

    With `out_path`, each result is appended to that JSONL file as soon as it is known,
    and a rerun with the same path skips jobs whose (key, program hash) is already
    there, so an interrupted batch loses nothing.

    Returns:
        One result per job, in job order (resumed ones read back from the file).
    """
    job_list: Sequence[Job] = list(jobs)
    done = read_results(out_path) if out_path else {}
    results: list[ProgramResult | None] = [None] * len(job_list)
    todo: list[int] = []
    for i, job in enumerate(job_list):
        prev = done.get(f"{job.problem.problem_id}#{job.sample}")
        if prev is not None and prev.program_sha == program_sha(job.program):
            results[i] = prev
        else:
            todo.append(i)
    out_fh = None
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        out_fh = Path(out_path).open("a", encoding="utf-8")
    sem = asyncio.Semaphore(max(1, concurrency))
    bar = _Progress(len(job_list), len(job_list) - len(todo), description, enabled=progress)

    async def one(i: int) -> None:
        job = job_list[i]
        async with sem:
            res = await executor.run(job.problem, job.program)
        res.sample = job.sample
        res.program_sha = program_sha(job.program)
        results[i] = res
        if out_fh is not None:
            out_fh.write(res.model_dump_json() + "\n")
            out_fh.flush()
        bar.advance(res.passed)
        if on_result is not None:
            on_result(res)

    tasks = [asyncio.ensure_future(one(i)) for i in todo]
    try:
        with bar:
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                # Sandbox gone or interrupted: stop the rest; what is written stays for a resume.
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
    finally:
        if out_fh is not None:
            out_fh.close()
    return [r for r in results if r is not None]


class _Progress:
    """A rich progress bar that counts passes and failures (silent when disabled)."""

    def __init__(self, total: int, already: int, description: str, *, enabled: bool) -> None:
        self.enabled = enabled
        self.passed = self.failed = 0
        self.description = description
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task(description, total=total, completed=already, status="")

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)

    def advance(self, passed: bool) -> None:
        if passed:
            self.passed += 1
        else:
            self.failed += 1
        if self.enabled:
            status = f"[green]{self.passed} passed[/] [red]{self.failed} failed[/]"
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
