"""The checkpointed evolution graph: pre-filter, then a `Send` fan-out over modes, per instance.

Built on phalanx's graph runtime (`GraphBuilder`, `Send`, a SQLite checkpointer): each
original instance is one thread `prefilter -> evolve x modes` (or `reject` when the
pre-filter fails). Instances run concurrently on a bounded number of workers; every model
call sits behind one gate of the same size, so `concurrency=1` is strictly one at a time.

Resume: records are appended to `evolved.jsonl` as soon as each mode finishes and the
graph checkpoints every step, so after an interruption a re-run skips (instance, mode)
pairs already written and resumes unfinished threads where they stopped (finished
`Send` branches are not re-run). Duplicates are never written twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from phalanx.agents import END, START, GraphBuilder, NodeFailed, Send, ThreadNotFound, append
from phalanx.agents.selfevolve.pipeline import EvolvePipeline, EvolveSettings
from phalanx.agents.selfevolve.prompts import PromptLibrary
from phalanx.agents.selfevolve.types import EvolvedInstance, Instance, Mode
from phalanx.models import ChatModel, load_model

EVOLVED_FILE = "evolved.jsonl"
ORIGINALS_FILE = "originals.jsonl"
MANIFEST_FILE = "run.json"
CHECKPOINT_FILE = "checkpoints.sqlite"


class InstanceRun(BaseModel):
    """Graph state of one original instance (and, in a `Send` branch, of one mode)."""

    instance: Instance
    modes: list[Mode] = Field(default_factory=list)
    passed_prefilter: bool | None = None
    mode: Mode | None = None
    """Set in a fan-out branch: the mode that branch evolves."""
    records: Annotated[list[EvolvedInstance], append] = Field(default_factory=list)


class RecordSink:
    """Appends records to `evolved.jsonl`, skipping (parent id, mode) pairs already there."""

    def __init__(self, path: Path, on_record: Callable[[EvolvedInstance], None] | None = None) -> None:
        self.path = path
        self.on_record = on_record
        self.keys: set[tuple[str, str]] = set()
        self.written = 0
        self.counts: Counter[tuple[str, str]] = Counter()
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # a kill mid-write leaves a partial last line: drop it, its work is redone
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
            data = data[:cut]
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                rec = EvolvedInstance.model_validate_json(line)
                self.keys.add(rec.key)
                self.counts[(rec.mode.value, rec.status)] += 1

    def has(self, parent_id: str, mode: Mode) -> bool:
        return (parent_id, mode.value) in self.keys

    def write(self, record: EvolvedInstance) -> bool:
        """Append `record` unless its key is already written; returns whether it was written."""
        if record.key in self.keys:
            return False
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(record.model_dump_json() + "\n")
            fh.flush()  # visible to a re-run after a kill; fsync is not needed for that
        self.keys.add(record.key)
        self.counts[(record.mode.value, record.status)] += 1
        self.written += 1
        if self.on_record:
            self.on_record(record)
        return True


def build_evolve_graph(pipeline: EvolvePipeline, sink: RecordSink, gate: asyncio.Semaphore) -> GraphBuilder:
    """The per-instance graph: `prefilter`, then `evolve` fanned out per mode, or `reject`."""

    async def prefilter(state: InstanceRun) -> dict[str, Any]:
        if not pipeline.settings.prefilter:
            return {"passed_prefilter": True}
        async with gate:
            return {"passed_prefilter": await pipeline.prefilter(state.instance)}

    def route(state: InstanceRun) -> list[Send] | str:
        if not state.passed_prefilter:
            return "reject"
        todo = [m for m in state.modes if not sink.has(state.instance.id, m)]
        if not todo:
            return END
        return [
            Send(
                "evolve",
                {"instance": state.instance, "modes": state.modes, "passed_prefilter": True, "mode": m},
            )
            for m in todo
        ]

    async def evolve(state: InstanceRun) -> dict[str, Any]:
        assert state.mode is not None
        if sink.has(state.instance.id, state.mode):
            return {}
        async with gate:
            record = await pipeline.evolve(state.instance, state.mode)
        sink.write(record)
        return {"records": [record]}

    async def reject(state: InstanceRun) -> dict[str, Any]:
        records = [pipeline.prefilter_failure(state.instance, m) for m in state.modes]
        for r in records:
            sink.write(r)
        return {"records": records}

    return (
        GraphBuilder(InstanceRun, name="selfevolve")
        .add_node("prefilter", prefilter)
        .add_node("evolve", evolve)
        .add_node("reject", reject)
        .add_edge(START, "prefilter")
        .add_conditional_edges("prefilter", route, ["evolve", "reject", END])
        .add_edge("evolve", END)
        .add_edge("reject", END)
    )


class EvolveSummary(BaseModel):
    """What an evolution run did."""

    out_dir: str
    instances: int
    modes: list[Mode]
    written: int
    """Records written by this run."""
    skipped: int
    """(instance, mode) pairs already in evolved.jsonl before this run."""
    counts: dict[str, dict[str, int]]
    """mode -> {pass, fail} over the whole evolved.jsonl."""
    causes: dict[str, int]
    """Failure causes over the records written by this run."""
    errors: list[str] = Field(default_factory=list)
    """Instances whose graph failed (model unavailable, ...); re-run to continue them."""
    seconds: float = 0.0

    def mode_counts(self) -> list[tuple[str, int, int]]:
        """`(mode, passed, failed)` for each mode of the run, over the whole evolved.jsonl."""
        rows = []
        for mode in self.modes:
            counts = self.counts.get(mode.value, {})
            rows.append((mode.value, counts.get("pass", 0), counts.get("fail", 0)))
        return rows

    def top_causes(self) -> list[tuple[str, int]]:
        """Failure causes of this run's records, most frequent first."""
        return sorted(self.causes.items(), key=lambda kv: -kv[1])


def _thread_id(inst: Instance, modes: Sequence[Mode]) -> str:
    return f"{inst.id}#{','.join(m.value for m in modes)}"


async def evolve_dataset(
    instances: Sequence[Instance],
    modes: Sequence[Mode],
    generator: str | ChatModel,
    verifier: str | ChatModel,
    out_dir: str | Path,
    *,
    concurrency: int = 8,
    settings: EvolveSettings | None = None,
    prompt_dir: str | Path | None = None,
    checkpoint: bool = True,
    on_record: Callable[[EvolvedInstance], None] | None = None,
    source: str = "",
) -> EvolveSummary:
    """Evolve `instances` in every mode of `modes` and write `out_dir/evolved.jsonl`.

    Also writes `originals.jsonl` (the inputs, for evaluation), `run.json` (models, modes,
    prompt version) and `checkpoints.sqlite` (graph progress). Re-running with the same
    `out_dir` continues where a previous run stopped.

    Args:
        instances: Originals; repeated ids are evolved once.
        modes: Modes to run (see `parse_modes`).
        generator: Spec or model for the generator, option generator and pre-filter.
        verifier: Spec or model for both verifications.
        out_dir: Output folder (created).
        concurrency: Instances in flight, and most model calls at once.
        settings: Re-ask bound, pre-filter switch, token budget.
        prompt_dir: Folder of template overrides (see `PromptLibrary`).
        checkpoint: Keep graph checkpoints in SQLite (off: `memory`, no resume of partial threads).
        on_record: Called with each record as it is written (progress bars).
        source: Where the instances came from (recorded in run.json).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if not modes:
        raise ValueError("no modes to run; pass at least one (e.g. paraphrase)")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = load_model(generator)
    # the same spec for both roles shares one model (one set of weights, one micro-batcher)
    ver = gen if verifier == generator else load_model(verifier)
    prompts = PromptLibrary(prompt_dir)
    pipeline = EvolvePipeline(gen, ver, prompts=prompts, settings=settings)
    unique = list({inst.id: inst for inst in reversed(instances)}.values())[::-1]
    _write_inputs(out, unique, modes, pipeline, source)
    sink = RecordSink(out / EVOLVED_FILE, on_record)
    skipped = sum(sink.has(i.id, m) for i in unique for m in modes)
    gate = asyncio.Semaphore(concurrency)
    builder = build_evolve_graph(pipeline, sink, gate)
    errors: list[str] = []
    queue: asyncio.Queue[Instance] = asyncio.Queue()
    for inst in unique:
        if any(not sink.has(inst.id, m) for m in modes):
            queue.put_nowait(inst)

    async def run_all(runtime: Any) -> None:
        async def worker() -> None:
            while not queue.empty():
                inst = queue.get_nowait()
                try:
                    await _evolve_instance(runtime, inst, modes, sink, checkpoint)
                except NodeFailed as exc:
                    errors.append(f"{inst.id}: {exc}")

        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(queue.qsize(), 1)))))

    try:
        await _run_graphs(run_all, builder, out, modes, checkpoint)
    finally:
        owned = [m for m, spec in ((gen, generator), (ver, verifier)) if isinstance(spec, str)]
        for model in {id(m): m for m in owned}.values():  # built here from a spec: release it
            await model.aclose()
    return _summary(out, len(unique), modes, sink, skipped, errors, time.perf_counter() - started)


async def _evolve_instance(
    runtime: Any, inst: Instance, modes: Sequence[Mode], sink: RecordSink, checkpoint: bool
) -> None:
    """Run (or resume from its checkpoint) one instance's graph and write its records."""
    tid = _thread_id(inst, modes)
    try:
        state = await runtime.state(tid) if checkpoint else None
    except ThreadNotFound:
        state = None
    if state is None:
        final = await runtime.run(InstanceRun(instance=inst, modes=list(modes)), thread_id=tid)
    else:
        final = await runtime.resume(tid)
    for rec in final.records:  # records checkpointed but not yet in the file
        sink.write(rec)


def _summary(
    out: Path,
    instances: int,
    modes: Sequence[Mode],
    sink: RecordSink,
    skipped: int,
    errors: list[str],
    seconds: float,
) -> EvolveSummary:
    counts: dict[str, dict[str, int]] = {}
    for (mode, status), n in sink.counts.items():
        counts.setdefault(mode, {"pass": 0, "fail": 0})[status] = n
    causes = Counter(r.cause for r in _read_new(out / EVOLVED_FILE, sink.written) if r.cause)
    return EvolveSummary(
        out_dir=str(out),
        instances=instances,
        modes=list(modes),
        written=sink.written,
        skipped=skipped,
        counts=counts,
        causes=dict(causes),
        errors=errors,
        seconds=round(seconds, 3),
    )


async def _run_graphs(
    run_all: Any, builder: GraphBuilder, out: Path, modes: Sequence[Mode], checkpoint: bool
) -> None:
    if checkpoint:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with aiosqlite.connect(str(out / CHECKPOINT_FILE)) as conn:
            # WAL with synchronous=NORMAL survives a killed process (what resume needs) without
            # an fsync per checkpoint, which otherwise dominates the run time.
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(conn)
            await run_all(builder.compile(checkpointer=saver, max_concurrency=len(modes)))
    else:
        await run_all(builder.compile(checkpointer="memory", max_concurrency=len(modes)))


def _read_new(path: Path, n: int) -> list[EvolvedInstance]:
    if n == 0 or not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-n:]
    return [EvolvedInstance.model_validate_json(line) for line in lines if line.strip()]


def _write_inputs(
    out: Path, instances: Sequence[Instance], modes: Sequence[Mode], pipeline: EvolvePipeline, source: str
) -> None:
    originals = out / ORIGINALS_FILE
    known: dict[str, str] = {}
    if originals.exists():
        for line in originals.read_text(encoding="utf-8").splitlines():
            if line.strip():
                inst = Instance.model_validate_json(line)
                known[inst.id] = line
    with open(originals, "a", encoding="utf-8") as fh:
        for inst in instances:
            if inst.id not in known:
                fh.write(inst.model_dump_json() + "\n")
    manifest = {
        "source": source,
        "generator": pipeline.generator.name,
        "verifier": pipeline.verifier.name,
        "modes": [m.value for m in modes],
        "prompt_version": pipeline.prompts.version,
        "settings": pipeline.settings.model_dump(),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_evolved(path: str | Path) -> list[EvolvedInstance]:
    """Read `evolved.jsonl` (a folder holding it, or the file itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / EVOLVED_FILE
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no evolved.jsonl here; run `phalanx evolve DATA --out DIR` first")
    text = p.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # a partial last line from a killed run is not a record yet
    return [EvolvedInstance.model_validate_json(line) for line in text.splitlines() if line.strip()]
