"""`GraphRuntime`: run, stream, resume and inspect a compiled graph."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphRecursionError
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict

from phalanx.agents.graph.checkpoint import parse_checkpointer
from phalanx.agents.graph.errors import GraphError, StepLimitExceeded, ThreadNotFound
from phalanx.agents.graph.events import SINK, EventSink, RunEvent
from phalanx.agents.graph.validation import find_problems, longest_path_len

if TYPE_CHECKING:
    from phalanx.agents.graph.builder import GraphBuilder

S = TypeVar("S", bound=BaseModel)
_INTERRUPT_KEY = "__interrupt__"


class PendingInterrupt(BaseModel):
    """A human-in-the-loop question a paused thread is waiting on."""

    model_config = ConfigDict(frozen=True)

    id: str
    """Unique per node run (so two parallel branches asking the same question differ)."""
    value: Any
    """What the node passed to `interrupt(value)`."""


class ThreadState(BaseModel, Generic[S]):
    """Where a thread stands: its state, the nodes due next, and open interrupts."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    values: S
    next: tuple[str, ...]
    """Nodes that would run on `resume` (empty when the run finished)."""
    interrupts: list[PendingInterrupt]

    @property
    def finished(self) -> bool:
        return not self.next and not self.interrupts


class GraphRuntime(Generic[S]):
    """A compiled graph. Create it with `GraphBuilder.compile()`.

    Every call opens the checkpointer for its own duration (so a runtime works on any
    event loop) and runs on LangGraph; the state that comes back is the pydantic model.
    """

    def __init__(
        self,
        builder: GraphBuilder[S],
        *,
        checkpointer: str | BaseCheckpointSaver | None,
        max_concurrency: int | None,
        step_limit: int | None,
        durability: Literal["sync", "async", "exit"],
    ) -> None:
        self.builder = builder
        self.checkpointing = parse_checkpointer(checkpointer)
        self.max_concurrency = max_concurrency
        self.step_limit = step_limit
        self.durability = durability
        # LangGraph only accepts a durability mode when there is a saver to be durable with.
        self._durability = durability if self.checkpointing.enabled else None
        # In-process savers are bound once; SQLite is attached per call (see `_graph`).
        self._compiled = builder.to_langgraph(self.checkpointing.saver)
        self._recursion_limit = step_limit or max(25, longest_path_len(builder.spec) + 5)
        self._model = builder.state_model

    @property
    def name(self) -> str:
        return self.builder.name

    @property
    def state_model(self) -> type[S]:
        return self._model

    @property
    def langgraph(self) -> Any:
        """The underlying compiled LangGraph graph (without a SQLite saver attached)."""
        return self._compiled

    def validate(self) -> None:
        """Re-run the static checks; raises `GraphValidationError`."""
        self.builder.validate(step_limit=self.step_limit)

    def problems(self) -> list[str]:
        """The static-check problems as a list (empty when sound)."""
        return find_problems(self.builder.spec, self.step_limit)

    def mermaid(self) -> str:
        """Mermaid flowchart text of the graph."""
        return self.builder.mermaid()

    # -- running ------------------------------------------------------------------------------

    def _config(self, thread_id: str | None) -> dict[str, Any]:
        config: dict[str, Any] = {"recursion_limit": self._recursion_limit}
        if thread_id is not None:
            config["configurable"] = {"thread_id": thread_id}
        if self.max_concurrency:
            config["max_concurrency"] = self.max_concurrency
        return config

    def _thread(self, thread_id: str | None) -> str | None:
        if thread_id is not None:
            return str(thread_id)
        return uuid.uuid4().hex if self.checkpointing.enabled else None

    @asynccontextmanager
    async def _graph(self) -> AsyncIterator[Any]:
        if self.checkpointing.path is None:
            yield self._compiled
            return
        async with self.checkpointing.open() as saver:
            yield self._compiled.copy(update={"checkpointer": saver})

    def _input(self, value: S | Mapping[str, Any] | None) -> dict[str, Any]:
        if value is None:
            return {}  # LangGraph reads a None input as "resume"; a run starts from the defaults
        if isinstance(value, BaseModel):
            if not isinstance(value, self._model):
                raise TypeError(
                    f"graph {self.name!r} takes {self._model.__name__}, got {type(value).__name__}"
                )
            return {k: getattr(value, k) for k in value.model_fields_set}
        if isinstance(value, Mapping):
            # validate early so a bad input names the field before any node runs
            checked = self._model.model_validate(value)
            return {k: getattr(checked, k) for k in checked.model_fields_set}
        raise TypeError(f"graph input must be a {self._model.__name__} or a dict, got {type(value).__name__}")

    def _output(self, values: Mapping[str, Any]) -> S:
        if _INTERRUPT_KEY in values:
            values = {k: v for k, v in values.items() if k != _INTERRUPT_KEY}
        return self._model.model_validate(values)

    async def run(self, input: S | Mapping[str, Any] | None = None, *, thread_id: str | None = None) -> S:
        """Run the graph to the end (or to the first interrupt) and return the state.

        Args:
            input: Initial state (model or dict); fields you set are written, the rest keep defaults
                (or, on an existing thread, their saved values).
            thread_id: Key of this run in the checkpointer; pass it to `resume` later.

        Raises:
            NodeFailed: a node raised a non-transient error or ran out of attempts.
        """
        config = self._config(self._thread(thread_id))
        async with self._graph() as graph:
            try:
                values = await graph.ainvoke(self._input(input), config, durability=self._durability)
            except GraphRecursionError as exc:
                raise StepLimitExceeded(self.name, self._recursion_limit) from exc
        return self._output(values)

    async def resume(
        self, thread_id: str, value: Any = None, *, values: Mapping[str, Any] | None = None
    ) -> S:
        """Continue thread `thread_id`: after a crash or a `NodeFailed` (once its cause is fixed),
        or answering its pending interrupt(s).

        Nodes whose results were checkpointed are not run again. With one pending
        interrupt `value` is its answer; with several, pass `values={interrupt_id: answer}`
        (or a `value` that is such a dict).

        Raises:
            ThreadNotFound: nothing was recorded under `thread_id`.
        """
        config = self._config(str(thread_id))
        async with self._graph() as graph:
            command = await self._resume_command(graph, config, value, values)
            if command is _FINISHED:
                snapshot = await graph.aget_state(config)
                return self._output(snapshot.values)
            try:
                out = await graph.ainvoke(command, config, durability=self._durability)
            except GraphRecursionError as exc:
                raise StepLimitExceeded(self.name, self._recursion_limit) from exc
        return self._output(out)

    async def _resume_command(
        self, graph: Any, config: dict[str, Any], value: Any, values: Mapping[str, Any] | None
    ) -> Any:
        if not self.checkpointing.enabled:
            raise GraphError(f"graph {self.name!r} was compiled without a checkpointer, so it cannot resume")
        snapshot = await graph.aget_state(config)
        thread = config["configurable"]["thread_id"]
        if snapshot.created_at is None:
            raise ThreadNotFound(
                f"no run recorded for thread {thread!r} in {self.checkpointing.describe()}; "
                "check the thread id and the checkpointer path"
            )
        pending = [i.id for i in snapshot.interrupts]
        if pending:
            answers = values if values is not None else value
            if isinstance(answers, Mapping) and answers and set(answers) <= set(pending):
                return Command(resume=dict(answers))
            if values is not None:
                unknown = ", ".join(str(k) for k in values if k not in pending)
                raise GraphError(
                    f"thread {thread!r} has no pending interrupt with id(s) {unknown or '(none given)'}; "
                    f"pending: {', '.join(pending)}"
                )
            if len(pending) == 1:
                return Command(resume={pending[0]: value})
            raise GraphError(
                f"thread {thread!r} has {len(pending)} pending interrupts ({', '.join(pending)}); "
                "answer them with values={interrupt_id: answer, ...}"
            )
        if not snapshot.next:
            return _FINISHED
        return None

    async def state(self, thread_id: str) -> ThreadState[S]:
        """The saved state of a thread, what runs next, and its pending interrupts."""
        if not self.checkpointing.enabled:
            raise GraphError(f"graph {self.name!r} has no checkpointer, so it keeps no thread state")
        config = self._config(str(thread_id))
        async with self._graph() as graph:
            snapshot = await graph.aget_state(config)
        if snapshot.created_at is None:
            raise ThreadNotFound(
                f"no run recorded for thread {thread_id!r} in {self.checkpointing.describe()}"
            )
        return ThreadState[self._model](  # type: ignore[name-defined]
            values=self._output(snapshot.values),
            next=tuple(snapshot.next),
            interrupts=[PendingInterrupt(id=i.id, value=i.value) for i in snapshot.interrupts],
        )

    async def pending_interrupts(self, thread_id: str) -> list[PendingInterrupt]:
        """Interrupts thread `thread_id` is waiting on (empty when none)."""
        return (await self.state(thread_id)).interrupts

    # -- streaming ----------------------------------------------------------------------------

    async def stream(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        thread_id: str | None = None,
        resume: bool = False,
        value: Any = None,
        values: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Run (or with `resume=True`, resume) and yield `RunEvent`s as they happen.

        Order: each node's `node_start`, its `token`/`tool_call`/`custom`/`error` events,
        then `node_end` (or `error` with `will_retry=False`, or `interrupt`); the last event
        is `done` with `data["state"]` (the state model) and `data["interrupts"]`.
        A failing run yields its `error` event, then raises `NodeFailed`.
        """
        tid = self._thread(thread_id)
        config = self._config(tid)
        sink = EventSink(tid)
        async with self._graph() as graph:
            if resume:
                command = await self._resume_command(graph, config, value, values)
                if command is _FINISHED:
                    snapshot = await graph.aget_state(config)
                    yield RunEvent(
                        kind="done",
                        thread_id=tid,
                        data={"state": self._output(snapshot.values), "interrupts": []},
                    )
                    return
            else:
                command = self._input(input)

            async def pump() -> None:
                SINK.set(sink)  # this task's context only; LangGraph's node tasks inherit it
                last: Mapping[str, Any] = {}
                interrupts: list[dict[str, Any]] = []
                try:
                    async for mode, chunk in graph.astream(
                        command, config, stream_mode=["values", "custom"], durability=self._durability
                    ):
                        if mode == "custom":  # written with LangGraph's own get_stream_writer()
                            data = chunk if isinstance(chunk, dict) else {"value": chunk}
                            sink.put(RunEvent(kind="custom", thread_id=tid, data=data))
                        elif _INTERRUPT_KEY in chunk:
                            interrupts.extend({"id": i.id, "value": i.value} for i in chunk[_INTERRUPT_KEY])
                        else:
                            last = chunk
                    for item in interrupts:
                        if item["id"] not in sink.seen_interrupts:
                            sink.put(RunEvent(kind="interrupt", thread_id=tid, data=item))
                    sink.put(
                        RunEvent(
                            kind="done",
                            thread_id=tid,
                            data={"state": self._output(last), "interrupts": interrupts},
                        )
                    )
                    sink.put(None)
                except Exception as exc:  # noqa: BLE001 - handed to the consumer below
                    if isinstance(exc, GraphRecursionError):
                        exc = StepLimitExceeded(self.name, self._recursion_limit)
                    if not getattr(exc, "reported", False):  # a node's failure already has its error event
                        sink.put(
                            RunEvent(
                                kind="error", thread_id=tid, data={"error": f"{type(exc).__name__}: {exc}"}
                            )
                        )
                    sink.put(exc)

            task = asyncio.create_task(pump())
            try:
                while True:
                    item = await sink.queue.get()
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                await task
            finally:
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)


_FINISHED = object()
