"""APPS+ executions sharded over a Ray cluster: each node runs programs in its own Docker pool.

`run_batch_in_sandbox(..., ray=RayExecutor(...))` comes here. Results are written to the
same `results.jsonl`, resumed the same way and counted on the same progress bar as an
in-process batch (`batch.run_batch`), so the two give the same file and the same summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phalanx.agents.sharded import RayExecutor, run_sharded
from phalanx.agents.stepcoder.batch import Job, _Breaker, _Progress, program_sha, read_results, run_job
from phalanx.agents.stepcoder.executor import Executor, ExecutorConfig
from phalanx.agents.stepcoder.sandboxes import open_apps_sandbox
from phalanx.agents.stepcoder.types import ProgramResult


@dataclass
class AppsShardWork:
    """One node's part of a batch: a warm sandbox pool of `workers` containers on that node.

    Attributes:
        backend: sandbox backend (`docker`, or `local` for development).
        image: sandbox image recipe.
        workers: containers per node, and programs run at once on it.
        config: executor limits.
    """

    backend: str
    image: str
    workers: int
    config: ExecutorConfig | None = None
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def concurrency(self) -> int:
        return self.workers

    def key(self, record: Job) -> str:
        return f"{record.problem.problem_id}#{record.sample}"

    async def open(self) -> None:
        sandbox = open_apps_sandbox(self.backend, image=self.image, workers=self.workers)
        self._state.update(sandbox=sandbox, executor=Executor(sandbox, self.config), breaker=_Breaker(8))

    async def run(self, job: Job) -> ProgramResult:
        return await run_job(self._state["executor"], job, self._state["breaker"])

    async def close(self) -> None:
        sandbox = self._state.pop("sandbox", None)
        if sandbox is not None:
            await sandbox.aclose()


async def run_batch_on_ray(
    jobs: Iterable[Job],
    work: AppsShardWork,
    executor: RayExecutor,
    *,
    out_path: Path | None = None,
    progress: bool = True,
    description: str = "executing",
) -> list[ProgramResult]:
    """`run_batch` with the executions spread over a Ray cluster (same file, resume and result order)."""
    job_list: Sequence[Job] = list(jobs)
    done = read_results(out_path) if out_path else {}
    finished: dict[str, ProgramResult] = {}
    for job in job_list:
        key = work.key(job)
        prev = done.get(key)
        if prev is not None and prev.program_sha == program_sha(job.program) and prev.harness_error is None:
            finished[key] = prev
    bar = _Progress(len(job_list), len(finished), description + " on ray", enabled=progress)
    out_fh = None
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_fh = out_path.open("a", encoding="utf-8")

    def on_result(key: str, res: ProgramResult) -> None:
        finished[key] = res
        if out_fh is not None and res.infra_error is None:  # a fault is no verdict: a resume reruns it
            out_fh.write(res.model_dump_json() + "\n")
            out_fh.flush()
        bar.advance(res)

    try:
        with bar:
            await run_sharded(work, job_list, executor, on_result, done=set(finished))
    finally:
        if out_fh is not None:
            out_fh.close()
    return [finished[work.key(j)] for j in job_list if work.key(j) in finished]
