"""Self-evolving runs sharded over a Ray cluster: each node evolves its own instances.

`evolve_dataset(..., ray=RayExecutor(...))` comes here. Each node loads the generator and
verifier once and runs the same per-instance graph as in-process (its checkpoints kept in
memory: a node lost mid-instance gives the whole instance back); the driver writes every
record to the same `evolved.jsonl` through the same `RecordSink`, which never writes an
(instance, mode) pair twice, so a rerun resumes exactly as an in-process one does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from phalanx.agents import NodeFailed
from phalanx.agents.selfevolve.graph import (
    EVOLVED_FILE,
    EvolveSummary,
    RecordSink,
    _evolve_instance,
    _summary,
    _write_inputs,
    build_evolve_graph,
)
from phalanx.agents.selfevolve.pipeline import EvolvePipeline, EvolveSettings
from phalanx.agents.selfevolve.prompts import PromptLibrary
from phalanx.agents.selfevolve.types import EvolvedInstance, Instance, Mode
from phalanx.agents.sharded import RayExecutor, run_sharded
from phalanx.models import ChatModel, load_model


class _NodeSink(RecordSink):
    """A node's sink: keeps each instance's records for the driver instead of writing a file."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"), None)
        self.collected: dict[str, list[EvolvedInstance]] = {}

    def write(self, record: EvolvedInstance) -> bool:
        if record.key in self.keys:
            return False
        self.keys.add(record.key)
        self.collected.setdefault(record.parent_id, []).append(record)
        return True


@dataclass
class EvolveShardWork:
    """One node's part of an evolution run.

    Attributes:
        generator: generator spec (loaded on each node).
        verifier: verifier spec (the same spec shares one model, as in-process).
        modes: the modes of the run.
        settings: re-ask bound, pre-filter switch, token budget.
        prompt_dir: template overrides (a folder every node can read), or None.
        concurrency: model calls at once on each node.
    """

    generator: str
    verifier: str
    modes: list[Mode]
    settings: EvolveSettings | None
    prompt_dir: str | None
    concurrency: int
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    def key(self, item: tuple[Instance, list[Mode]]) -> str:
        return item[0].id

    async def open(self) -> None:
        gen = load_model(self.generator)
        ver = gen if self.verifier == self.generator else load_model(self.verifier)
        pipeline = EvolvePipeline(gen, ver, prompts=PromptLibrary(self.prompt_dir), settings=self.settings)
        sink = _NodeSink()
        builder = build_evolve_graph(pipeline, sink, asyncio.Semaphore(self.concurrency))
        runtime = builder.compile(checkpointer="memory", max_concurrency=len(self.modes))
        self._state.update(models={id(gen): gen, id(ver): ver}, sink=sink, runtime=runtime)

    async def run(self, item: tuple[Instance, list[Mode]]) -> tuple[list[EvolvedInstance], str | None]:
        inst, done = item
        sink: _NodeSink = self._state["sink"]
        sink.keys.update((inst.id, m.value) for m in done)
        try:
            await _evolve_instance(self._state["runtime"], inst, self.modes, sink, False)
        except NodeFailed as exc:
            return sink.collected.pop(inst.id, []), f"{inst.id}: {exc}"
        return sink.collected.pop(inst.id, []), None

    async def close(self) -> None:
        for model in self._state.pop("models", {}).values():
            await model.aclose()


@dataclass(frozen=True)
class _SpecName:
    """Stands for a model in the run manifest: the driver never loads the models itself."""

    name: str


async def evolve_on_ray(
    instances: Sequence[Instance],
    modes: Sequence[Mode],
    generator: str,
    verifier: str,
    out_dir: str | Path,
    executor: RayExecutor,
    *,
    concurrency: int,
    settings: EvolveSettings | None,
    prompt_dir: str | Path | None,
    on_record: Callable[[EvolvedInstance], None] | None,
    source: str,
) -> EvolveSummary:
    """`evolve_dataset` with the instances spread over a Ray cluster (same files, resume, summary)."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    named = EvolvePipeline(
        cast(ChatModel, _SpecName(generator)),
        cast(ChatModel, _SpecName(verifier)),
        prompts=PromptLibrary(prompt_dir),
        settings=settings,
    )
    unique = list({inst.id: inst for inst in reversed(instances)}.values())[::-1]
    _write_inputs(out, unique, modes, named, source)
    sink = RecordSink(out / EVOLVED_FILE, on_record)
    skipped = sum(sink.has(i.id, m) for i in unique for m in modes)
    items = [(inst, [m for m in modes if sink.has(inst.id, m)]) for inst in unique]
    finished = {inst.id for inst, done in items if len(done) == len(modes)}
    errors: list[str] = []

    def on_result(key: str, outcome: tuple[list[EvolvedInstance], str | None]) -> None:
        records, error = outcome
        for record in records:
            sink.write(record)
        if error is not None:
            errors.append(error)

    work = EvolveShardWork(
        generator,
        verifier,
        list(modes),
        settings,
        None if prompt_dir is None else str(Path(prompt_dir).resolve()),
        concurrency,
    )
    await run_sharded(work, items, executor, on_result, done=finished)
    return _summary(out, len(unique), modes, sink, skipped, errors, time.perf_counter() - started)
