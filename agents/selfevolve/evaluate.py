"""Evaluate models on the originals and on each evolved mode, with rule-based scoring.

As the official test runner does: each task family with an official dataset (arithmetic ~
GSM8K, kinship ~ CLUTRR, commonsense ~ StrategyQA, boolean ~ BoolQ) is asked with that
dataset's 2-shot chain-of-thought chat and scored with its lenient judge; sub-ability modes are
a two-option choice ("Just output 'B' or 'A'") between the correct answer and the generated
wrong option, with the position of the correct one drawn per instance from a seeded hash
(the official code draws it with `random`). Other tasks use phalanx's zero-shot template and
`score_reply`. Only evolved instances with status `pass` are evaluated.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from phalanx.agents.selfevolve.graph import ORIGINALS_FILE, read_evolved
from phalanx.agents.selfevolve.official import evaluation_messages
from phalanx.agents.selfevolve.official.judges import judge_official
from phalanx.agents.selfevolve.prompts import PromptLibrary
from phalanx.agents.selfevolve.scoring import AnswerKind, answer_kind, score_reply
from phalanx.agents.selfevolve.types import ALL_MODES, Instance
from phalanx.models import ChatModel, GenerationConfig, Message, load_model

ORIGINAL = "original"


class EvalItem(BaseModel):
    """One question put to each model."""

    id: str
    mode: str
    """`original` or an evolved mode."""
    task: str = "generic"
    messages: list[Message]
    """The chat put to the model (the official evaluation chat where the task has one)."""
    reference: str
    """The reference answer (`A`/`B` for a choice)."""
    kind: AnswerKind
    """How replies are scored against the reference."""
    official: bool = False
    """Scored by the official dataset's judge (else by `score_reply`)."""

    @property
    def prompt(self) -> str:
        """The last user turn (the question itself)."""
        return self.messages[-1].content or ""

    def score(self, reply: str) -> bool:
        """Whether `reply` answers this item correctly."""
        if self.official:
            verdict = judge_official(self.task, self.reference, reply, choice=self.kind == "choice")
            if verdict is not None:
                return verdict
        return score_reply(reply, self.reference, self.kind)


class ModeScore(BaseModel):
    """Accuracy of one model on one mode."""

    model: str
    mode: str
    n: int
    correct: int
    accuracy: float
    delta: float | None = None
    """Accuracy minus the model's accuracy on the originals (None for the originals row)."""

    def percent(self, decimals: int = 0) -> str:
        """The accuracy in percent: `81%`."""
        return f"{self.accuracy * 100:.{decimals}f}%"

    def delta_points(self, decimals: int = 0) -> str:
        """The change from the originals in percentage points (`+3`), or `` for the originals row."""
        return "" if self.delta is None else f"{self.delta * 100:+.{decimals}f}"

    def label(self, decimals: int = 0) -> str:
        """One table cell: `81% (+3) n=20` (no bracket on the originals row)."""
        delta = self.delta_points(decimals)
        return f"{self.percent(decimals)}{f' ({delta})' if delta else ''} n={self.n}"


class EvaluationResult(BaseModel):
    """Per model x mode accuracy and the change from the original."""

    data_dir: str
    models: list[str]
    modes: list[str]
    scores: list[ModeScore] = Field(default_factory=list)

    def score(self, model: str, mode: str) -> ModeScore | None:
        """The score of `model` on `mode`, or None when it has none."""
        return next((s for s in self.scores if s.model == model and s.mode == mode), None)

    def table(self) -> list[tuple[str, list[ModeScore | None]]]:
        """The score table: one row per mode (originals first), one cell per model in `models` order.

        The command line and report.html both render this table.
        """
        return [(mode, [self.score(model, mode) for model in self.models]) for mode in self.modes]


def _choice_position(item_id: str, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return digest[0] % 2


def _item(
    prompts: PromptLibrary,
    id: str,
    mode: str,
    task: str,
    context: str,
    question: str,
    reference: str,
    options: list[str] | None = None,
) -> EvalItem:
    kind: AnswerKind = "choice" if options else answer_kind(reference)
    messages = evaluation_messages(task, context, question, options)
    official = messages is not None
    if messages is None:
        text = prompts.render(task, "evaluate", context=context, question=question, options=options)
        messages = [Message.user(text)]
    return EvalItem(
        id=id, mode=mode, task=task, messages=messages, reference=reference, kind=kind, official=official
    )


def build_items(
    data_dir: str | Path, *, seed: int = 0, prompts: PromptLibrary | None = None
) -> list[EvalItem]:
    """The evaluation items of an evolve output folder: originals, then passing evolved instances."""
    prompts = prompts or PromptLibrary()
    data = Path(data_dir)
    evolved = [r for r in read_evolved(data) if r.status == "pass"]
    parents = {r.parent_id for r in read_evolved(data)}
    originals_path = data / ORIGINALS_FILE
    originals = []
    if originals_path.is_file():
        for line in originals_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                inst = Instance.model_validate_json(line)
                if inst.id in parents:
                    originals.append(inst)
    items = [_item(prompts, o.id, ORIGINAL, o.task, o.context, o.question, o.answer) for o in originals]
    for r in evolved:
        if r.mode.is_sub_ability:
            pos = _choice_position(r.id, seed)
            options = [r.answer, r.option] if pos == 0 else [r.option, r.answer]
            items.append(
                _item(prompts, r.id, r.mode.value, r.task, r.context, r.question, "AB"[pos], options)
            )
        else:
            items.append(_item(prompts, r.id, r.mode.value, r.task, r.context, r.question, r.answer))
    return items


async def evaluate_models(
    models: Sequence[str | ChatModel],
    data_dir: str | Path,
    *,
    concurrency: int = 8,
    seed: int = 0,
    max_new_tokens: int = 256,
    on_item: Callable[[], None] | None = None,
) -> EvaluationResult:
    """Ask every model every item of `data_dir` and score the replies.

    Args:
        models: Specs or models under evaluation.
        data_dir: An evolve output folder (evolved.jsonl, originals.jsonl).
        concurrency: Most model calls at once (per model).
        seed: Seed of the A/B positions.
        max_new_tokens: Token budget per reply.
        on_item: Called after each scored reply (progress bars).
    """
    items = build_items(data_dir, seed=seed)
    if not items:
        raise ValueError(f"{data_dir}: nothing to evaluate (no originals and no passing evolved instances)")
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    loaded = [load_model(m) for m in models]
    modes = [ORIGINAL] + [m.value for m in ALL_MODES if any(i.mode == m.value for i in items)]
    result = EvaluationResult(data_dir=str(data_dir), models=[m.name for m in loaded], modes=modes)
    for model in loaded:
        gate = asyncio.Semaphore(concurrency)

        async def ask(item: EvalItem, model: ChatModel = model, gate: asyncio.Semaphore = gate) -> bool:
            async with gate:
                response = await model.chat(item.messages, config=config)
            if on_item:
                on_item()
            return item.score(response.message.content or "")

        try:
            verdicts = await asyncio.gather(*(ask(i) for i in items))
        finally:
            if model not in models:  # built here from a spec: release it
                await model.aclose()
        base: float | None = None
        for mode in modes:
            hits = [v for i, v in zip(items, verdicts, strict=True) if i.mode == mode]
            acc = sum(hits) / len(hits) if hits else 0.0
            if mode == ORIGINAL:
                base = acc
            result.scores.append(
                ModeScore(
                    model=model.name,
                    mode=mode,
                    n=len(hits),
                    correct=sum(hits),
                    accuracy=round(acc, 4),
                    delta=None if mode == ORIGINAL or base is None else round(acc - base, 4),
                )
            )
    return result
