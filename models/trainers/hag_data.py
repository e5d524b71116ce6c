"""The HAG instruction-tuning set: for each task sample, the decoding configuration that scored best.

Input: task samples (`HagSample`: prompt, reference answer, metric name), as JSONL. For each,
`search_config` finds the best `HagConfig` by asking a chat model to answer the prompt
under candidate configurations and scoring the replies with the sample's metric. Output:
one `HagRecord` per sample, a prompt-completion conversation in exactly the form the
`hag:` node asks stage 1 (`stage_one_messages`: the HAG instruction as the system
message, the request as the user message) whose completion is the configuration's JSON
(which `parse_choice` reads back), plus the scores for inspection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from phalanx.models.base import ChatModel
from phalanx.models.errors import ModelError
from phalanx.models.hag import INSTRUCTION, HagConfig, stage_one_messages
from phalanx.models.trainers.hag_search import SearchResult, SearchSpace, search_config
from phalanx.models.types import Message


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _number(text: str) -> float | None:
    found = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return float(found[-1]) if found else None


def _token_f1(reply: str, reference: str) -> float:
    got, want = _normal(reply).split(), _normal(reference).split()
    common = sum(min(got.count(w), want.count(w)) for w in set(want))
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


METRICS: dict[str, Callable[[str, str], float]] = {
    "exact": lambda reply, ref: float(_normal(reply) == _normal(ref)),
    "contains": lambda reply, ref: float(_normal(ref) in _normal(reply)),
    "number": lambda reply, ref: float(_number(reply) is not None and _number(reply) == _number(ref)),
    "f1": _token_f1,
}
"""Task metrics by name: normalised exact match, reference contained in the reply, last number
equal (arithmetic), token F1 (translation, open answers)."""


class HagDataError(ModelError):
    """A task-sample or HAG dataset file that cannot be used (the message names the line and field)."""


class HagSample(BaseModel):
    """One task sample to search a configuration for."""

    prompt: str = Field(min_length=1)
    reference: str
    """The gold answer the metric compares replies with."""
    metric: str = "contains"
    """A name in `METRICS`."""
    task: str = ""
    """Free label (e.g. `arithmetic`, `translation`) carried into the record."""


class HagRecord(BaseModel):
    """One example of the HAG instruction-tuning set (TRL's conversational prompt-completion form)."""

    prompt: list[dict[str, str]]
    """The stage-1 conversation: system = HAG instruction, user = the request."""
    completion: list[dict[str, str]]
    """The assistant's stage-1 reply: the best configuration as JSON."""
    task: str = ""
    score: float
    default_score: float
    evaluations: int


def config_json(config: HagConfig) -> str:
    """The stage-1 reply for `config`: one JSON object with every key, numbers rounded for the model to copy."""
    data = config.model_dump()
    for key in ("temperature", "top_p", "repetition_penalty"):
        data[key] = round(float(data[key]), 2)
    return json.dumps(data)


def to_record(sample: HagSample, result: SearchResult, instruction: str = INSTRUCTION) -> HagRecord:
    """The tuning example teaching the model to answer `sample.prompt`'s stage 1 with `result.best`."""
    messages = stage_one_messages([Message.user(sample.prompt)], instruction)
    return HagRecord(
        prompt=[{"role": m.role, "content": m.content or ""} for m in messages],
        completion=[{"role": "assistant", "content": config_json(result.best)}],
        task=sample.task,
        score=result.score,
        default_score=result.default_score,
        evaluations=result.evaluations,
    )


def chat_evaluator(model: ChatModel, sample: HagSample, *, generations: int = 2, seed: int = 0) -> Any:
    """The `search_config` scorer of `sample`: mean metric over `generations` replies (greedy: one).

    Replies of different configurations share seeds, so they differ by the configuration only.

    Raises:
        HagDataError: an unknown metric name.
    """
    metric = METRICS.get(sample.metric)
    if metric is None:
        raise HagDataError(f"unknown metric {sample.metric!r}; known: {', '.join(METRICS)}")

    async def evaluate(config: HagConfig) -> float:
        import asyncio

        runs = 1 if config.strategy == "greedy" else generations
        replies = await asyncio.gather(
            *(
                model.chat(
                    [Message.user(sample.prompt)],
                    config=config.generation_config().model_copy(update={"seed": seed + i}),
                )
                for i in range(runs)
            )
        )
        return sum(metric(r.message.content or "", sample.reference) for r in replies) / runs

    return evaluate


async def build_hag_dataset(
    model: ChatModel,
    samples: list[HagSample],
    *,
    space: SearchSpace | None = None,
    generations: int = 2,
    instruction: str = INSTRUCTION,
    out: str | Path | None = None,
    progress: Callable[[int, HagRecord | None], None] | None = None,
) -> list[HagRecord]:
    """Search every sample's best configuration with `model` and return the tuning set.

    Args:
        out: a JSONL file each record is appended to as soon as it is found; when it
            already holds records (an interrupted run), those samples are not searched again.
        progress: called as `progress(index, record)` after each sample (`None`: already done).

    Raises:
        HagDataError: `out` holds more records than there are samples, or a damaged line.
    """
    path = Path(out).expanduser() if out is not None else None
    records: list[HagRecord] = (
        load_records(path) if path is not None and path.is_file() and path.stat().st_size else []
    )
    if len(records) > len(samples):
        raise HagDataError(
            f"{path}: holds {len(records)} records but there are {len(samples)} samples; use a new file"
        )
    for index in range(len(records)):
        if progress is not None:
            progress(index, None)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    for index in range(len(records), len(samples)):
        sample = samples[index]
        result = await search_config(chat_evaluator(model, sample, generations=generations), space)
        record = to_record(sample, result, instruction)
        records.append(record)
        if path is not None:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")
        if progress is not None:
            progress(index, record)
    return records


def _read_jsonl(path: Path, schema: type[BaseModel]) -> list[Any]:
    if not path.is_file():
        raise HagDataError(f"{path}: no such file")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(schema.model_validate_json(line))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(map(str, problem["loc"])) or "line"
            raise HagDataError(f"{path}:{number}: {where}: {problem['msg']}") from exc
    if not rows:
        raise HagDataError(f"{path}: no records")
    return rows


def load_samples(path: str | Path) -> list[HagSample]:
    """Task samples from JSONL (`{"prompt", "reference", "metric"?, "task"?}` per line).

    Raises:
        HagDataError: a missing file, a bad line (named with its number), or an unknown metric.
    """
    samples: list[HagSample] = _read_jsonl(Path(path).expanduser(), HagSample)
    for number, sample in enumerate(samples, start=1):
        if sample.metric not in METRICS:
            raise HagDataError(
                f"{path}: sample {number}: unknown metric {sample.metric!r}; known: {', '.join(METRICS)}"
            )
    return samples


def save_records(path: str | Path, records: list[HagRecord]) -> Path:
    """Write the tuning set as JSONL (one `HagRecord` per line)."""
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return out


def load_records(path: str | Path) -> list[HagRecord]:
    """Read a tuning set written by `save_records`.

    Raises:
        HagDataError: a missing file or a bad line (named with its number).
    """
    return _read_jsonl(Path(path).expanduser(), HagRecord)
