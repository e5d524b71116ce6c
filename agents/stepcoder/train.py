"""StepCoder RL: PPO on CCCS code-completion subtasks, rewarded by the sandboxed executor, with FGO.

Each update (StepCoder; methods.md Part C §1):

1. CCCS (`Curriculum`) picks each sampled problem's current subtask; the prompt is the
   problem statement plus the canonical solution's prefix, and the policy samples the rest.
2. The executor runs `prefix + completion` against the unit tests in the sandbox, with
   line coverage; the reward ladder scores it (+1 / -0.3 / -0.6 / -1), the first failing
   case deciding.
3. FGO: tokens of the completion that lie on statements no test executed get weight 0 in
   the PPO policy loss (`ppo.policy_loss`'s `policy_mask`); a program without coverage
   (it did not compile, or the harness failed) keeps every token.
4. PPO (`phalanx.models.trainers.ppo.PPOLoop`, shared with R³) updates policy and value
   head; the curriculum records each pass and advances as its schedule says.

The model is saved as a plain transformers directory (`hf:DIR` loads it) with
`stepcoder_training.json` beside it (configuration and per-update history).

Why an own PPO loop and not TRL: see `phalanx.models.trainers.ppo` (TRL 1.x has no PPO
trainer with a value head, and no per-token loss mask for FGO).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from phalanx.agents.stepcoder.cccs import Curriculum, CurriculumSchedule, completion_prompt
from phalanx.agents.stepcoder.errors import StepCoderError
from phalanx.agents.stepcoder.executor import Executor, ExecutorConfig
from phalanx.agents.stepcoder.fgo import dead_char_spans, dead_lines, mask_from_offsets
from phalanx.agents.stepcoder.reward import compute_reward
from phalanx.agents.stepcoder.types import Problem, ProgramResult
from phalanx.models.trainers.config import PPOConfig, TrainerStep
from phalanx.sandbox import SandboxError

TRAINING_FILE = "stepcoder_training.json"


class StepCoderTrainConfig(BaseModel):
    """How a StepCoder run goes."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(20, ge=1)
    """PPO updates."""
    curriculum: CurriculumSchedule = Field(
        default_factory=lambda: CurriculumSchedule(stages=4, advance="steps", steps_per_stage=5)
    )
    """CCCS schedule; `steps_per_stage` and `window` count programs (one per episode), not updates."""
    ppo: PPOConfig = Field(default_factory=lambda: PPOConfig(learning_rate=1e-5, max_new_tokens=256))
    fgo: bool = True
    """Mask unexecuted code out of the policy loss (False: plain PPO, the paper's "w/o FGO" ablation)."""
    seed: int = 0


class StepCoderStep(TrainerStep):
    """One update of a StepCoder run."""

    mean_reward: float
    pass_rate: float
    masked_fraction: float
    """Share of response tokens FGO left out of the policy loss."""
    not_run: int
    """Episodes the sandbox could not run (no reward, left out of the policy loss)."""


class StepCoderResult(BaseModel):
    """What `train_stepcoder` did."""

    steps: list[StepCoderStep]
    checkpoint: Path | None
    final_stage: int


def token_offsets(token_ids: Sequence[int], tokenizer: Any) -> list[tuple[int, int]]:
    """Character span of each generated token in `tokenizer.decode(token_ids, skip_special_tokens=True)`.

    Decoding growing prefixes keeps the spans aligned with the text that was executed, whatever
    the tokenizer (a byte split across tokens gives the bytes' tokens one shared span).
    """
    spans: list[tuple[int, int]] = []
    prev = 0
    for i in range(len(token_ids)):
        text = tokenizer.decode(token_ids[: i + 1], skip_special_tokens=True)
        cut = len(text.rstrip("\ufffd"))  # an unfinished UTF-8 sequence decodes to U+FFFD for now
        start = min(prev, cut)
        spans.append((start, cut))
        prev = max(prev, cut)
    return spans


def completion_mask(
    program: str,
    completion_start: int,
    token_ids: Sequence[int],
    tokenizer: Any,
    covered: Sequence[int] | None,
) -> Any:
    """FGO weights of the generated tokens: 0 on statements no test executed, else 1.

    Args:
        program: prefix + completion, as executed.
        completion_start: where the completion starts in `program`.
        token_ids: the generated tokens (their decoded text is `program[completion_start:]`).
        tokenizer: the policy's tokenizer.
        covered: executed lines (`ProgramResult.coverage`); None keeps every token.
    """
    import torch

    if covered is None:
        return torch.ones(len(token_ids))
    try:
        dead = dead_lines(program, covered)
    except SyntaxError:  # nothing ran: no coverage evidence to mask by
        return torch.ones(len(token_ids))
    first_line = program.count("\n", 0, completion_start) + 1
    spans = dead_char_spans(program[completion_start:], dead, first_line=first_line)
    return mask_from_offsets(token_offsets(token_ids, tokenizer), spans)


async def _run(executor: Executor, problem: Problem, program: str, coverage: bool) -> ProgramResult | None:
    try:
        result = await executor.run(problem, program, coverage=coverage, stop_on_failure=True)
    except SandboxError:
        return None
    return None if result.infra_error is not None else result


async def train_stepcoder(
    lm: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    executor: Executor,
    *,
    config: StepCoderTrainConfig | None = None,
    out: str | Path | None = None,
    on_step: Callable[[StepCoderStep], None] | None = None,
) -> StepCoderResult:
    """Train a code policy with StepCoder (CCCS + FGO over PPO).

    Args:
        lm: a transformers causal LM (trained in place).
        tokenizer: its tokenizer.
        problems: APPS+ problems with canonical solutions (`load_problems`).
        executor: runs programs in the sandbox (`Executor(open_apps_sandbox())`).
        config: curriculum, PPO and FGO settings.
        out: directory for the trained model (None: not saved).
        on_step: called after every update.

    Raises:
        StepCoderError: no problem with a parsable canonical solution, or the sandbox ran none of a
            rollout's programs.
    """
    import torch

    from phalanx.models.trainers.ppo import PPOLoop

    cfg = config or StepCoderTrainConfig()
    usable = []
    for p in problems:
        try:
            compile(p.canonical_solution, p.problem_id, "exec")
        except SyntaxError:
            continue
        if p.canonical_solution.strip():
            usable.append(p)
    if not usable:
        raise StepCoderError("no problem has a canonical solution that parses; CCCS needs one per problem")
    curriculum = Curriculum(usable, cfg.curriculum)
    by_id = {p.problem_id: p for p in usable}
    loop = PPOLoop(lm, tokenizer, cfg.ppo)
    rng = random.Random(cfg.seed)
    history: list[StepCoderStep] = []
    for step in range(1, cfg.steps + 1):
        start = time.perf_counter()
        stage = curriculum.stage
        chosen = (
            rng.sample(usable, cfg.ppo.batch_size)
            if cfg.ppo.batch_size <= len(usable)
            else [rng.choice(usable) for _ in range(cfg.ppo.batch_size)]
        )
        subtasks = [curriculum.subtask(p.problem_id) for p in chosen]
        prompts = [completion_prompt(p, t) for p, t in zip(chosen, subtasks, strict=True)]
        rollout = await asyncio.to_thread(loop.rollout, prompts)
        programs = [t.prefix + text for t, text in zip(subtasks, rollout.texts, strict=True)]
        results = await asyncio.gather(
            *(
                _run(executor, by_id[t.problem_id], prog, cfg.fgo)
                for t, prog in zip(subtasks, programs, strict=True)
            )
        )
        if all(r is None for r in results):
            raise StepCoderError(
                f"update {step}: the sandbox could not run any of the {len(results)} programs"
            )
        scores: list[float] = []
        mask = torch.ones_like(rollout.response_mask)
        advanced = False
        for i, (task, prog, res) in enumerate(zip(subtasks, programs, results, strict=True)):
            ids = rollout.response_ids[i]
            if res is None:  # not a verdict: no reward, and no push on the policy either way
                scores.append(0.0)
                mask[i] = 0.0
                continue
            scores.append(compute_reward(res, executor.ladder))
            advanced = curriculum.record(res.passed) or advanced
            if cfg.fgo:
                weights = completion_mask(prog, len(task.prefix), ids, tokenizer, res.coverage)
                mask[i, : len(ids)] = weights.to(mask.dtype)
        stats = await asyncio.to_thread(loop.update, rollout, scores, mask)
        ran = [r for r in results if r is not None]
        record = StepCoderStep(
            step=step,
            stage=stage,
            **stats.losses(),
            seconds=time.perf_counter() - start,
            advanced=advanced,
            mean_reward=sum(s for s, r in zip(scores, results, strict=True) if r is not None) / len(ran),
            pass_rate=sum(r.passed for r in ran) / len(ran),
            masked_fraction=stats.masked_fraction,
            not_run=len(results) - len(ran),
        )
        history.append(record)
        if on_step is not None:
            on_step(record)
    path = None
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        loop.lm.save_pretrained(path)
        tokenizer.save_pretrained(path)
        summary = {"config": cfg.model_dump(mode="json"), "steps": [s.model_dump() for s in history]}
        (path / TRAINING_FILE).write_text(json.dumps(summary, indent=2))
    return StepCoderResult(steps=history, checkpoint=path, final_stage=curriculum.stage)


async def run_stepcoder(
    model: str,
    data: str | Path | None,
    out: str | Path,
    *,
    config: StepCoderTrainConfig | None = None,
    backend: str = "docker",
    limit: int | None = None,
    executor_config: ExecutorConfig | None = None,
    on_step: Callable[[StepCoderStep], None] | None = None,
) -> StepCoderResult:
    """`phalanx train stepcoder`: load the model spec and APPS+ data, train in the sandbox, save.

    Args:
        model: `hf:NAME|DIR` or `r3:DIR` to start from.
        data: APPS+ `.jsonl`/`.json` or an APPS folder (None: the sample shipped with phalanx).
        out: a new directory for the trained model.
        backend: `docker` (isolated) or `local` (development only).
        limit: only the first N problems.

    Raises:
        DatasetError / ExecutorError / StepCoderError: bad data, unknown backend, nothing ran.
        SandboxError: the sandbox cannot start.
        ModelError: the model cannot be loaded, or `out` already holds files.
    """
    from phalanx.agents.stepcoder.data import load_problems
    from phalanx.agents.stepcoder.sandboxes import open_apps_sandbox
    from phalanx.models.trainers import check_fresh_output, load_trainable

    target = check_fresh_output(out)
    problems = load_problems(data, limit=limit)
    lm, tokenizer = load_trainable(model)
    sandbox = open_apps_sandbox(backend, workers=min(4, (config or StepCoderTrainConfig()).ppo.batch_size))
    try:
        executor = Executor(sandbox, executor_config)
        return await train_stepcoder(
            lm, tokenizer, problems, executor, config=config, out=target, on_step=on_step
        )
    finally:
        await sandbox.aclose()
