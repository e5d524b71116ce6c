"""R³ data: demonstrations, start states, the staged and mixed schedules, GSM8K-layout files.

R³ (Xi et al. 2024, arXiv 2402.05808; official code WooooDyy/LLM-Reverse-Curriculum-RL,
`R3_math`) starts PPO episodes from *intermediate states of a correct demonstration*:
the prompt is the question, the response marker and the first k reasoning steps
(lines of the gold rationale); the policy writes the rest. The released data
(`gsm8k_nl_mix_example.json`) mixes all k in one training set ("R³-mix"); the paper
also describes the staged variant, where k starts at n-1 (only the last step left)
and moves back to 0 (the plain question). Both are here:

- `build_start_states`: all k = 0..n-1 of one demonstration;
- `StagedCurriculum`: stage s hands out k = max(n-1-s, 0) for each demonstration and
  advances when the recent mean reward reaches a threshold or the stage's step budget
  is spent (builder vs runtime as in `phalanx.agents.stepcoder.Curriculum`);
- `MixedPool`: every start state of every demonstration, sampled uniformly.

Files use the GSM8K layout: one JSON object per line, `question` and `answer`, the
answer holding the rationale lines and a final `#### <number>` line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from phalanx.models.checkpoints.r3 import PromptFormat

R3_INSTRUCTION = (
    "Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\n\n### Instruction:\n"
)
"""The instruction the official `R3_math` code puts before every GSM8K/SVAMP question."""

R3_FORMAT = PromptFormat(
    template=R3_INSTRUCTION + "{question}\n\n### Response: ",
    answer_pattern=r"####\s*\$?\s*(-?[\d,]*\.?\d+)",
)
"""The official R³ CoT format: instruction, question, `### Response: `; the answer follows `####`."""


PROGRAM_HEADER = 'def solution():\n    """{question}"""\n'
"""Program-of-thought responses start with this header (official `R3_math` PoT prefix); the policy
writes the body, and the answer is what `solution()` returns when the program is run."""

Style = Literal["cot", "pot"]
"""`cot`: steps are rationale lines and the answer follows `####`; `pot`: steps are the lines of
`solution()`'s body and the answer is the program's result."""


class DataFileError(ValueError):
    """A demonstration file is missing or malformed; the message names the file and line."""


class Demonstration(BaseModel):
    """A correct worked example: question, reasoning steps (one per line), gold answer."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    question: str
    steps: tuple[str, ...] = Field(min_length=1)
    """The rationale, one reasoning step per entry (GSM8K: one per line)."""
    answer: str
    """The gold final answer (a number for GSM8K-style data)."""


class StartState(BaseModel):
    """One R³ episode start: the policy continues `prompt`; `target` is the gold continuation."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    k: int
    """How many gold steps the prompt already holds (0: the plain question)."""
    n_steps: int
    """Steps of the demonstration."""
    prompt: str
    given: str
    """The part of `prompt` after the prompt format's text: the response so far (PoT: the program so far)."""
    target: str
    """The remaining gold steps and (CoT) the `#### answer` line (for reference / SFT)."""
    answer: str


def render_question(question: str, prompt_format: PromptFormat = R3_FORMAT) -> str:
    """The prompt of a plain question in `prompt_format` (no `str.format`: questions may hold braces)."""
    return prompt_format.template.replace("{question}", question)


def build_start_states(
    demo: Demonstration, prompt_format: PromptFormat = R3_FORMAT, *, style: Style = "cot"
) -> list[StartState]:
    """The start states k = 0 .. n-1 of a demonstration (R³ §3; official `*_mix_example.json`).

    The official files join the first k lines without a trailing newline and tokenize the
    rest separately; here the kept lines end with a newline, so the policy starts on a
    fresh line exactly as it would after writing those steps itself. With `style="pot"`
    the response starts with `PROGRAM_HEADER` (always given, as in the official PoT data)
    and the steps are the lines of the function body.
    """
    head = render_question(demo.question, prompt_format)
    opening = PROGRAM_HEADER.replace("{question}", demo.question) if style == "pot" else ""
    n = len(demo.steps)
    states = []
    for k in range(n):
        given = opening + "".join(step + "\n" for step in demo.steps[:k])
        rest = "\n".join(demo.steps[k:])
        states.append(
            StartState(
                item_id=demo.item_id,
                k=k,
                n_steps=n,
                prompt=head + given,
                given=given,
                target=rest if style == "pot" else f"{rest}\n#### {demo.answer}",
                answer=demo.answer,
            )
        )
    return states


class StagedCurriculum:
    """Staged R³: start from the last step of every demonstration and move back stage by stage.

    Stage s hands out, for each demonstration with n steps, the start state with
    k = max(n-1-s, 0); the last stage (s = longest n - 1) is the plain question for all.
    The stage advances when the mean reward over the last `window` episodes reaches
    `threshold`, or after `steps_per_stage` updates (the paper's step budget per stage).

    Args:
        demos: the demonstrations.
        threshold: mean episode reward that moves to the next stage.
        window: episodes the mean is taken over.
        steps_per_stage: updates after which the stage advances anyway.
        prompt_format: how questions are rendered.
        style: `cot` (rationale lines) or `pot` (program lines).
    """

    def __init__(
        self,
        demos: Sequence[Demonstration],
        *,
        threshold: float = 0.6,
        window: int = 16,
        steps_per_stage: int = 20,
        prompt_format: PromptFormat = R3_FORMAT,
        style: Style = "cot",
    ) -> None:
        if not demos:
            raise ValueError("R³ needs at least one demonstration")
        self.states = [build_start_states(d, prompt_format, style=style) for d in demos]
        self.stages = max(len(s) for s in self.states)
        self.threshold = threshold
        self.window = window
        self.steps_per_stage = steps_per_stage
        self.stage = 0
        self.steps = 0
        self._recent: list[float] = []

    @property
    def finished(self) -> bool:
        """On the last stage (every episode starts from the plain question)."""
        return self.stage >= self.stages - 1

    def current(self) -> list[StartState]:
        """The start state of every demonstration at the current stage."""
        return [states[max(len(states) - 1 - self.stage, 0)] for states in self.states]

    def sample(self, rng: random.Random, size: int) -> list[StartState]:
        """`size` start states of the current stage (without replacement while possible)."""
        pool = self.current()
        return rng.sample(pool, size) if size <= len(pool) else [rng.choice(pool) for _ in range(size)]

    def record(self, rewards: Iterable[float]) -> bool:
        """Record one update's episode rewards; True when this moved to the next stage."""
        self.steps += 1
        self._recent.extend(rewards)
        del self._recent[: -self.window]
        if self.finished:
            return False
        full = len(self._recent) >= self.window
        if (full and sum(self._recent) / len(self._recent) >= self.threshold) or (
            self.steps >= self.steps_per_stage
        ):
            self.stage += 1
            self.steps = 0
            self._recent.clear()
            return True
        return False


class MixedPool:
    """R³-mix: every start state of every demonstration in one pool (the released code's setting)."""

    def __init__(
        self, demos: Sequence[Demonstration], prompt_format: PromptFormat = R3_FORMAT, *, style: Style = "cot"
    ) -> None:
        if not demos:
            raise ValueError("R³ needs at least one demonstration")
        self.pool = [s for d in demos for s in build_start_states(d, prompt_format, style=style)]
        self.stage = 0

    def sample(self, rng: random.Random, size: int) -> list[StartState]:
        """`size` start states drawn uniformly from the pool."""
        return [rng.choice(self.pool) for _ in range(size)]

    def record(self, rewards: Iterable[float]) -> bool:
        """Nothing to advance: the mix has one stage."""
        return False


def demonstration_from_gsm8k(record: object, item_id: str, where: str) -> Demonstration:
    """A demonstration from one GSM8K-layout record (`question`, `answer` ending in `#### n`).

    Raises:
        DataFileError: naming `where` and what is wrong.
    """
    if not isinstance(record, dict):
        raise DataFileError(f"{where}: expected a JSON object with 'question' and 'answer'")
    for field in ("question", "answer"):
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise DataFileError(f"{where}: field {field!r} missing or not a non-empty string")
    rationale, sep, final = record["answer"].rpartition("####")
    if not sep:
        raise DataFileError(
            f"{where}: 'answer' has no '#### <final answer>' line (GSM8K layout: rationale lines, then '#### 42')"
        )
    answer = final.strip().replace(",", "")
    try:
        float(answer)
    except ValueError:
        raise DataFileError(f"{where}: final answer {final.strip()!r} after '####' is not a number") from None
    # Leading spaces stay: program-of-thought steps are indented lines of a function body.
    steps = tuple(line.rstrip() for line in rationale.splitlines() if line.strip())
    if not steps:
        raise DataFileError(f"{where}: 'answer' has no rationale lines before '####'")
    ident = record.get("id", record.get("item_id", item_id))
    return Demonstration(item_id=str(ident), question=record["question"].strip(), steps=steps, answer=answer)


def load_gsm8k_jsonl(path: str | Path, *, limit: int | None = None) -> list[Demonstration]:
    """Demonstrations from a GSM8K-layout JSONL file.

    Args:
        path: the file: one `{"question": ..., "answer": "...\\n#### 42"}` per line (blank lines skipped).
        limit: keep the first `limit` demonstrations.

    Raises:
        DataFileError: no such file, a line that is not JSON, or a malformed record (file and line named).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataFileError(
            f"{p}: no such file; give a GSM8K-layout .jsonl (one question/answer object a line)"
        )
    demos: list[Demonstration] = []
    with p.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{p}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            demos.append(demonstration_from_gsm8k(record, f"{p.stem}_{number}", where))
            if limit is not None and len(demos) >= limit:
                break
    if not demos:
        raise DataFileError(f"{p}: holds no records")
    return demos


def write_gsm8k_jsonl(path: str | Path, demos: Iterable[Demonstration]) -> Path:
    """Write demonstrations as GSM8K-layout JSONL (what `load_gsm8k_jsonl` reads back)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as handle:
        for d in demos:
            answer = "\n".join(d.steps) + f"\n#### {d.answer}"
            handle.write(json.dumps({"id": d.item_id, "question": d.question, "answer": answer}) + "\n")
    return p
