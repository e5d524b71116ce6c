"""R³ trainer: PPO from reverse-curriculum start states with the outcome reward (1 / 0.2 / 0).

Follows the official `R3_math` code (methods.md Part A, R³): the policy continues a
start state (`r3_data`), the answer is the number after `####`, and the episode's
score is 1 when it equals the gold answer (|diff| <= 1e-2), 0.2 when a number was
extracted but is wrong, 0 when none was. PPO itself is `ppo.PPOLoop`. The result is a
`phalanx.r3` checkpoint (`save_r3_checkpoint`) that `load_model("r3:DIR")` serves.

A reward function of another kind (the program-of-thought variant, whose answer comes
from running the generated program) plugs in as `reward_fn`; this module never runs code.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from phalanx.models.checkpoints.r3 import PromptFormat
from phalanx.models.trainers.config import PPOConfig, TrainerStep
from phalanx.models.trainers.r3_data import (
    R3_FORMAT,
    Demonstration,
    MixedPool,
    StagedCurriculum,
    StartState,
    Style,
    render_question,
)


class OutcomeReward(BaseModel):
    """R³'s outcome reward values (official `R3_math/main.py` rollout)."""

    model_config = ConfigDict(frozen=True)

    correct: float = 1.0
    """The extracted answer equals the gold one."""
    wrong: float = 0.2
    """An answer was extracted but is wrong (rewards the answer format)."""
    missing: float = 0.0
    """No answer could be extracted."""
    tolerance: float = 1e-2
    """Numeric answers within this distance count as equal (official: 1e-2)."""


def answers_match(extracted: str, gold: str, tolerance: float = 1e-2) -> bool:
    """Numeric comparison within `tolerance` when both parse as numbers, else exact text."""
    try:
        return abs(float(extracted.replace(",", "")) - float(gold.replace(",", ""))) <= tolerance
    except ValueError:
        return extracted.strip() == gold.strip()


def outcome_reward(
    completion: str,
    gold: str,
    prompt_format: PromptFormat = R3_FORMAT,
    values: OutcomeReward = OutcomeReward(),
) -> float:
    """The R³ score of one completion: `correct`, `wrong` or `missing`."""
    answer = prompt_format.extract(completion)
    if answer is None:
        return values.missing
    return values.correct if answers_match(answer, gold, values.tolerance) else values.wrong


RewardFn = Callable[[list[StartState], list[str]], Sequence[float]]
"""`(start_states, completions) -> scores`: a batch reward (the default is `outcome_reward`)."""

ProgramRunner = Callable[[list[str]], Sequence[str | None]]
"""Runs Python programs (elsewhere: `models` never executes code) and returns each one's stdout,
or None when it failed, timed out or could not run."""


def make_pot_reward(run_programs: ProgramRunner, values: OutcomeReward = OutcomeReward()) -> RewardFn:
    """R³'s program-of-thought reward: run `given + completion` then `print(solution())`.

    As the official PoT path: the answer is the program's result; a program that fails, times
    out or prints no number scores `missing` (0), a wrong number `wrong` (0.2), the gold one
    `correct` (1). `phalanx.agents.pot.SandboxProgramRunner` runs them in the Docker sandbox.
    """

    def reward(states: list[StartState], texts: list[str]) -> list[float]:
        programs = [f"{s.given}{t}\nprint(solution())\n" for s, t in zip(states, texts, strict=True)]
        scores = []
        for state, out in zip(states, run_programs(programs), strict=True):
            lines = (out or "").strip().splitlines()
            answer = lines[-1].strip() if lines else ""
            try:
                float(answer)
            except ValueError:
                scores.append(values.missing)
                continue
            scores.append(
                values.correct if answers_match(answer, state.answer, values.tolerance) else values.wrong
            )
        return scores

    return reward


class R3Config(BaseModel):
    """How an R³ run goes."""

    model_config = ConfigDict(extra="forbid")

    style: Style = "cot"
    """`cot`: rationale lines, answer after `####`; `pot`: the policy writes `solution()`'s body and
    the answer is its result (needs a `reward_fn` that runs programs: `make_pot_reward`)."""
    schedule: Literal["staged", "mix"] = "staged"
    """`staged`: k from n-1 back to 0, stage by stage; `mix`: all start states at once (official release)."""
    steps: int = Field(20, ge=1)
    """PPO updates."""
    stage_threshold: float = Field(0.6, gt=0)
    """Staged: mean episode score over `stage_window` that advances the stage."""
    stage_window: int = Field(16, ge=1)
    """Staged: episodes the mean is taken over."""
    steps_per_stage: int = Field(20, ge=1)
    """Staged: updates after which the stage advances anyway."""
    sft_steps: int = Field(0, ge=0)
    """Supervised warm-up steps on the full demonstrations before PPO (R³ step 1; 0: start from the model as is).
    The PPO reference policy is the warmed-up model, as in the official pipeline."""
    sft_learning_rate: float = Field(2e-5, gt=0)
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    prompt_format: PromptFormat = R3_FORMAT
    """Prompt template and answer pattern (saved with the checkpoint)."""
    reward: OutcomeReward = Field(default_factory=OutcomeReward)
    seed: int = 0


class R3Step(TrainerStep):
    """One update of an R³ run."""

    mean_k: float
    """Mean number of gold steps given in the prompts."""
    mean_score: float
    accuracy: float
    """Share of episodes scored `correct`."""


class R3Result(BaseModel):
    """What `train_r3` did."""

    steps: list[R3Step]
    checkpoint: Path | None
    final_stage: int


def train_r3(
    lm: Any,
    tokenizer: Any,
    demos: Sequence[Demonstration],
    *,
    config: R3Config | None = None,
    out: str | Path | None = None,
    reward_fn: RewardFn | None = None,
    on_step: Callable[[R3Step], None] | None = None,
    base_model: str | None = None,
) -> R3Result:
    """Train a policy with R³ and save it as a `phalanx.r3` checkpoint.

    Args:
        lm: a transformers causal LM (trained in place).
        tokenizer: its tokenizer.
        demos: correct demonstrations (`load_gsm8k_jsonl`, `generate_word_problems`).
        config: schedule, PPO and reward settings.
        out: checkpoint directory (None: no checkpoint).
        reward_fn: batch reward replacing the outcome reward (e.g. program-of-thought).
        on_step: called after every update (progress bars, logs).
        base_model: recorded in the checkpoint's manifest.
    """
    from phalanx.models.checkpoints.r3 import save_r3_checkpoint
    from phalanx.models.trainers.ppo import PPOLoop

    cfg = config or R3Config()
    fmt = cfg.prompt_format
    source: StagedCurriculum | MixedPool
    if cfg.schedule == "staged":
        source = StagedCurriculum(
            demos,
            threshold=cfg.stage_threshold,
            window=cfg.stage_window,
            steps_per_stage=cfg.steps_per_stage,
            prompt_format=fmt,
            style=cfg.style,
        )
    else:
        source = MixedPool(demos, fmt, style=cfg.style)
    if cfg.style == "pot" and reward_fn is None:
        raise ValueError(
            "program-of-thought R³ needs a reward_fn that runs the programs: "
            "make_pot_reward(phalanx.agents.pot.SandboxProgramRunner(sandbox))"
        )
    if cfg.sft_steps:
        from phalanx.models.trainers.sft import sft_warmup

        sft_warmup(
            lm,
            tokenizer,
            demos,
            steps=cfg.sft_steps,
            batch_size=cfg.ppo.batch_size,
            learning_rate=cfg.sft_learning_rate,
            prompt_format=fmt,
            style=cfg.style,
            seed=cfg.seed,
        )
    loop = PPOLoop(lm, tokenizer, cfg.ppo)
    rng = random.Random(cfg.seed)

    def default_reward(states: list[StartState], texts: list[str]) -> list[float]:
        return [outcome_reward(t, s.answer, fmt, cfg.reward) for s, t in zip(states, texts, strict=True)]

    score = reward_fn or default_reward
    history: list[R3Step] = []
    for step in range(1, cfg.steps + 1):
        start = time.perf_counter()
        stage = source.stage
        states = source.sample(rng, cfg.ppo.batch_size)
        rollout = loop.rollout([s.prompt for s in states])
        scores = [float(x) for x in score(states, rollout.texts)]
        stats = loop.update(rollout, scores)
        advanced = source.record(scores)
        record = R3Step(
            step=step,
            stage=stage,
            **stats.losses(),
            seconds=time.perf_counter() - start,
            advanced=advanced,
            mean_k=sum(s.k for s in states) / len(states),
            mean_score=stats.mean_score,
            accuracy=sum(x >= cfg.reward.correct for x in scores) / len(scores),
        )
        history.append(record)
        if on_step is not None:
            on_step(record)
    path = None
    if out is not None:
        # A PoT policy's answer is its program's result, not a pattern in the text: none is recorded.
        saved = fmt.model_copy(update={"answer_pattern": None}) if cfg.style == "pot" else fmt
        path = save_r3_checkpoint(out, loop.lm, tokenizer, saved, base_model=base_model)
    return R3Result(steps=history, checkpoint=path, final_stage=source.stage)


def evaluate_accuracy(
    lm: Any,
    tokenizer: Any,
    demos: Sequence[Demonstration],
    *,
    prompt_format: PromptFormat = R3_FORMAT,
    max_new_tokens: int = 128,
    batch_size: int = 8,
    k_from_end: int | None = None,
) -> float:
    """Greedy accuracy of `lm` on `demos` (the share whose extracted answer equals the gold one).

    Args:
        k_from_end: None asks the plain question; j gives the prompt all gold steps but the last j
            (j = 1: only the final step is left), for measuring the stages R³ trains on.
    """
    import torch

    prompts: list[str] = []
    for d in demos:
        if k_from_end is None:
            prompts.append(render_question(d.question, prompt_format))
        else:
            keep = max(len(d.steps) - k_from_end, 0)
            prompts.append(
                render_question(d.question, prompt_format) + "".join(s + "\n" for s in d.steps[:keep])
            )
    side = tokenizer.padding_side
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    correct = 0
    lm.eval()
    try:
        tokenizer.padding_side = "left"
        for lo in range(0, len(prompts), batch_size):
            chunk = prompts[lo : lo + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
            with torch.no_grad():
                out = lm.generate(
                    **enc,
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            for i, row in enumerate(out[:, enc["input_ids"].shape[1] :]):
                text = tokenizer.decode(row, skip_special_tokens=True)
                answer = prompt_format.extract(text)
                correct += answer is not None and answers_match(answer, demos[lo + i].answer)
    finally:
        tokenizer.padding_side = side
    return correct / len(prompts) if prompts else 0.0


def check_fresh_output(out: str | Path) -> Path:
    """`out` as a Path, refusing a directory that already holds files (a finished run is never overwritten).

    Raises:
        CheckpointError: `out` is a file, or a non-empty directory.
    """
    from phalanx.models.errors import CheckpointError

    path = Path(out).expanduser()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CheckpointError(f"{path}: already exists and is not empty; choose a new --out directory")
    return path


def run_r3(
    model: str,
    data: str | Path,
    out: str | Path,
    *,
    config: R3Config | None = None,
    limit: int | None = None,
    on_step: Callable[[R3Step], None] | None = None,
    reward_fn: RewardFn | None = None,
) -> R3Result:
    """`phalanx train r3`: load the model spec and a GSM8K-layout file, train, write the checkpoint.

    Raises:
        DataFileError: the data file is missing or malformed.
        ModelSpecError / CheckpointError: the model cannot be loaded, or `out` is not fresh.
    """
    from phalanx.models.trainers.policy import load_trainable
    from phalanx.models.trainers.r3_data import load_gsm8k_jsonl

    target = check_fresh_output(out)
    demos = load_gsm8k_jsonl(data, limit=limit)  # bad data fails before the model is loaded
    lm, tokenizer = load_trainable(model)
    return train_r3(
        lm,
        tokenizer,
        demos,
        config=config,
        out=target,
        reward_fn=reward_fn,
        on_step=on_step,
        base_model=model,
    )
