"""Typed run events and `emit`, the way a node adds its own events to a run's stream.

Events travel through an in-process sink that only exists while `GraphRuntime.stream`
is iterating; a plain `run()` has no sink, so emitting costs one context-variable
lookup. The sink is thread-safe (`call_soon_threadsafe`), so a model backend may
report tokens from a worker thread started with `asyncio.to_thread`. Values that code
writes with LangGraph's own `get_stream_writer()` still reach the stream, as `custom`
events (the runtime also listens to LangGraph's custom stream mode).
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal["node_start", "node_end", "token", "tool_call", "custom", "error", "interrupt", "done"]
_KINDS = frozenset(EventKind.__args__)  # type: ignore[attr-defined]


class RunEvent(BaseModel):
    """One thing that happened during a graph run, in the order it happened."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: EventKind
    """What happened: `node_start`, `node_end`, `token`, `tool_call`, `custom`, `error`, `interrupt`, `done`."""
    node: str | None = None
    """Node the event belongs to (`None` for run-level events such as `done`)."""
    task_id: str | None = None
    """LangGraph task id of the node run: tells apart parallel runs of one node (a `Send` fan-out)."""
    ts: float = Field(default_factory=time.monotonic)
    """`time.monotonic()` when the event was created (comparable within one process)."""
    thread_id: str | None = None
    """Thread id of the run."""
    namespace: tuple[str, ...] = ()
    """Path of subgraph nodes above `node` (empty at the top level)."""
    duration_s: float | None = None
    """Wall time of the node attempt(s), on `node_end` and `error`."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific payload: `text` for tokens, `name`/`arguments` for tool calls,
    `error`/`attempt`/`will_retry`/`backoff_s` for errors, `id`/`value` for interrupts,
    `state`/`interrupts` on `done`."""

    def to_json(self) -> str:
        """One-line JSON form (what `--json` prints)."""
        return self.model_dump_json()


class EventSink:
    """Where a streaming run's events go: an asyncio queue fed thread-safely."""

    __slots__ = ("loop", "queue", "thread_id", "seen_interrupts")

    def __init__(self, thread_id: str | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[RunEvent | BaseException | None] = asyncio.Queue()
        self.thread_id = thread_id
        self.seen_interrupts: set[str] = set()

    def put(self, item: RunEvent | BaseException | None) -> None:
        # Always via the loop's callback queue, so events from threads and from the loop keep one order.
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


SINK: ContextVar[EventSink | None] = ContextVar("phalanx_event_sink", default=None)
"""The active stream's sink (set only while `GraphRuntime.stream` runs)."""
CURRENT_NODE: ContextVar[tuple[str, str | None] | None] = ContextVar("phalanx_current_node", default=None)
"""(node name, task id) of the node whose code is running (set by the node wrapper while streaming)."""
NAMESPACE: ContextVar[tuple[str, ...]] = ContextVar("phalanx_namespace", default=())
"""Subgraph path of the running node."""


def emit(kind: str, **data: Any) -> None:
    """Add an event to the current run's stream from inside a node.

    `kind` is `"token"` (pass `text=`), `"tool_call"` (`name=`, `arguments=`), `"custom"`,
    or any other word, which becomes a `custom` event with `data["type"] = kind`.
    Outside a streaming run this does nothing, so nodes can always call it.

    Example:
        `await model.chat(msgs, on_token=lambda t: emit("token", text=t))`
    """
    sink = SINK.get()
    if sink is None:
        return
    if kind not in _KINDS or kind in ("node_start", "node_end", "done", "interrupt"):
        data = {"type": kind, **data}
        kind = "custom"
    node, task_id = CURRENT_NODE.get() or (None, None)
    sink.put(
        RunEvent(
            kind=kind,
            node=node,
            task_id=task_id,
            thread_id=sink.thread_id,
            namespace=NAMESPACE.get(),
            data=data,
        )
    )
