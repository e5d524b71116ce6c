"""`evaluate_model`: sample n programs per problem from any `ChatModel`, execute them, report pass@k."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from math import comb
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from phalanx.agents.stepcoder.batch import Job, progress_bar, run_batch_in_sandbox
from phalanx.agents.stepcoder.data import load_problems
from phalanx.agents.stepcoder.executor import ExecutorConfig
from phalanx.agents.stepcoder.sandboxes import APPS_IMAGE
from phalanx.agents.stepcoder.types import Problem, ProgramResult
from phalanx.agents.stepcoder.verify import DIFFICULTY_ORDER
from phalanx.models import ChatModel, GenerationConfig, Message, load_model
from phalanx.sandbox import Sandbox

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Complete the function below so that it solves the problem "
    "in its docstring. Reply with the complete program in one ```python code block."
)
_CODE_BLOCK = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.S)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    Raises:
        ValueError: k > n or c outside [0, n].
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def user_prompt(problem: Problem) -> str:
    """The user message asking for a solution of `problem`."""
    how = (
        "The function reads the input from standard input and prints the answer."
        if problem.io_mode == "stdin"
        else "The function returns the answer."
    )
    return f"{how}\n\n```python\n{problem.prompt.strip(chr(10))}\n```"


def extract_program(problem: Problem, reply: str) -> str:
    """The program in a model reply: the last code block, or the reply itself.

    A reply that only continues the function (a body without its header) is put
    after the problem's prompt, like a completion model's output would be.
    """
    blocks = _CODE_BLOCK.findall(reply)
    code = blocks[-1] if blocks else reply
    name = problem.fn_name
    if name and not re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.M):
        return problem.prompt.rstrip("\n") + "\n" + code
    return code


class PassAtK(BaseModel):
    problems: int = 0
    pass_at: dict[str, float] = {}
    """`k` (as a string) -> mean pass@k over the problems."""


class EvalSummary(BaseModel):
    """What `summary.json` of an eval run holds."""

    model: str
    n: int
    ks: list[int]
    problems: int
    overall: PassAtK
    by_difficulty: dict[str, PassAtK]
    incomplete: int = 0
    """Problems left out of pass@k because the sandbox could not run some of their samples
    (infrastructure faults, no verdict); a rerun with the same `--out` runs those samples."""
    not_run: int = 0
    """Samples the sandbox could not run."""


def summarise_eval(
    model: str, problems: Sequence[Problem], results: Sequence[ProgramResult], n: int, ks: Sequence[int]
) -> EvalSummary:
    """pass@k per difficulty and overall from n executed samples per problem.

    A problem with a sample the sandbox could not run is left out (counted in `incomplete`):
    an unknown outcome is neither a pass nor a failure.
    """
    correct: dict[str, int] = {p.problem_id: 0 for p in problems}
    ran: dict[str, int] = {p.problem_id: 0 for p in problems}
    for r in results:
        if r.infra_error is None:
            ran[r.problem_id] += 1
            correct[r.problem_id] += int(r.passed)
    complete = [p for p in problems if ran[p.problem_id] == n]
    groups: dict[str, list[str]] = {}
    for p in complete:
        groups.setdefault(p.difficulty, []).append(p.problem_id)

    def agg(ids: list[str]) -> PassAtK:
        return PassAtK(
            problems=len(ids),
            pass_at={str(k): sum(pass_at_k(n, correct[i], k) for i in ids) / max(1, len(ids)) for k in ks},
        )

    return EvalSummary(
        model=model,
        n=n,
        ks=list(ks),
        problems=len(problems),
        overall=agg([p.problem_id for p in complete]),
        by_difficulty={d: agg(groups[d]) for d in DIFFICULTY_ORDER if d in groups},
        incomplete=len(problems) - len(complete),
        not_run=sum(1 for r in results if r.infra_error is not None),
    )


async def sample_programs(
    model: ChatModel,
    problems: Sequence[Problem],
    n: int,
    config: GenerationConfig,
    concurrency: int = 4,
    progress: bool = False,
) -> list[Job]:
    """n sampled programs per problem (sample i of a problem uses seed `config.seed + i` when seeded)."""
    sem = asyncio.Semaphore(concurrency)
    bar = _SampleBar(len(problems) * n, enabled=progress)

    async def one(p: Problem, i: int) -> Job:
        cfg = config if config.seed is None else config.model_copy(update={"seed": config.seed + i})
        messages = [Message.system(SYSTEM_PROMPT), Message.user(user_prompt(p))]
        async with sem:
            resp = await model.chat(messages, config=cfg)
        bar.advance()
        return Job(p, extract_program(p, resp.message.content or ""), i)

    with bar:
        return list(await asyncio.gather(*(one(p, i) for p in problems for i in range(n))))


class _SampleBar:
    """A rich progress bar over the samples being generated (silent when disabled)."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        if enabled:
            self._bar, self._task = progress_bar("generating samples", total)

    def __enter__(self) -> _SampleBar:
        if self.enabled:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)

    def advance(self) -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1)


async def evaluate_model(
    model: str | ChatModel,
    data: str | Path | None = None,
    *,
    n: int = 1,
    ks: Sequence[int] = (1,),
    temperature: float = 0.8,
    max_tokens: int = 1024,
    seed: int | None = 0,
    sandbox: Sandbox | None = None,
    backend: str = "docker",
    image: str = APPS_IMAGE,
    workers: int = 4,
    out_dir: str | Path | None = None,
    config: ExecutorConfig | None = None,
    limit: int | None = None,
    progress: bool = True,
    model_concurrency: int = 16,
) -> EvalSummary:
    """Generate `n` samples per problem with `model`, execute them, and compute pass@k.

    `model_concurrency` samples are requested at once (an in-process `hf:` model decodes
    them together); `workers` programs execute at once in the sandbox.

    Raises:
        ValueError: a k larger than n. DatasetError, ModelSpecError, SandboxUnavailable: from below.
    """
    if not ks or any(k < 1 or k > n for k in ks):
        raise ValueError(f"every k must be between 1 and n={n}; got {list(ks)}")
    if n > 1 and temperature <= 0:
        raise ValueError("n > 1 samples with temperature 0 are identical; give --temperature > 0")
    problems = load_problems(data, limit=limit)
    chat = load_model(model)
    gen = GenerationConfig(temperature=temperature, max_new_tokens=max_tokens, seed=seed)
    try:
        jobs = await sample_programs(chat, problems, n, gen, concurrency=model_concurrency, progress=progress)
    finally:
        if not isinstance(model, ChatModel):
            await chat.aclose()
    out = Path(out_dir) if out_dir is not None else None
    results = await run_batch_in_sandbox(
        jobs,
        sandbox=sandbox,
        backend=backend,
        image=image,
        workers=workers,
        config=config or ExecutorConfig(stop_on_failure=True),
        out_dir=out,
        progress=progress,
        description="executing samples",
    )
    summary = summarise_eval(getattr(chat, "name", str(model)), problems, results, n, ks)
    if out is not None:
        with (out / "samples.jsonl").open("w", encoding="utf-8") as fh:
            for j in jobs:
                fh.write(
                    json.dumps({"problem_id": j.problem.problem_id, "sample": j.sample, "program": j.program})
                    + "\n"
                )
        (out / "summary.json").write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n")
    return summary
