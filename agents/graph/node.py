"""The wrapper every node runs inside: input coercion, events, timeout, retries, `NodeFailed`.

This is the runtime's hot path (it runs once per node per step), so the common case
(no policy, not streaming) is a type check, a context-variable lookup and the call. The
closure LangGraph receives is kept tiny on purpose: LangGraph disassembles each node
function at compile time (looking for subgraphs), so a big closure makes compiling
large graphs slow. Everything else lives in module-level functions.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp, GraphInterrupt
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from phalanx.agents.graph.errors import NodeFailed, NodeTimeout
from phalanx.agents.graph.events import CURRENT_NODE, NAMESPACE, SINK, EventSink, RunEvent
from phalanx.agents.graph.policy import NodePolicy, RetryPolicy

NodeFn = Callable[[Any], Awaitable[Any] | Any]


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    fn: NodeFn
    timeout_s: float | None
    retry: RetryPolicy | None


def wrap_node(name: str, fn: NodeFn, state_model: type[BaseModel], policy: NodePolicy | None) -> NodeFn:
    """Build the async callable LangGraph runs for node `name`."""
    validate = state_model.model_validate
    retry = policy.retry if policy else None
    if retry is not None and (not retry.retry_on or retry.max_attempts == 1):
        retry = None
    spec = _Node(name, fn, policy.timeout_s if policy else None, retry)
    simple = spec.timeout_s is None and retry is None

    async def node(state: Any) -> Any:
        if type(state) is dict:  # a `Send` payload arrives raw; give the node its typed state
            try:
                state = validate(state)
            except ValidationError as exc:
                raise NodeFailed(name, 1, exc) from exc
        if simple and SINK.get() is None:
            try:
                out = fn(state)
                return (await out) if isawaitable(out) else out
            except (GraphBubbleUp, NodeFailed):
                raise
            except Exception as exc:
                raise NodeFailed(name, 1, exc) from exc
        return await _run(spec, state)

    node.__name__ = node.__qualname__ = name
    _present_as(node, fn)
    return node


_STATE_ONLY = inspect.Signature([inspect.Parameter("state", inspect.Parameter.POSITIONAL_OR_KEYWORD)])


def _present_as(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> None:
    """Let LangGraph's compile-time introspection see the user's function, not the wrapper.

    LangGraph looks through `__wrapped__` when it scans a node's closure for subgraphs, so
    compiling costs what it costs for the bare function (scanning the wrapper's bytecode made
    large graphs several times slower to compile). `__signature__` pins the wrapper's own
    one-argument signature, so LangGraph injects nothing the wrapper cannot take.
    (Runs are unaffected: this only changes what compile-time introspection reads.)
    """
    wrapper.__signature__ = _STATE_ONLY  # type: ignore[attr-defined]
    # No annotations: `typing.get_type_hints` would resolve them in `fn`'s module (it follows
    # `__wrapped__` for globals), and the graph's state model is the input schema anyway.
    wrapper.__annotations__ = {}
    if callable(fn):
        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]


async def _call_once(spec: _Node, state: Any) -> Any:
    # plain functions and callables returning awaitables (partials, bound methods) both work
    if spec.timeout_s is None:
        out = spec.fn(state)
        return (await out) if isawaitable(out) else out
    deadline = asyncio.timeout(spec.timeout_s)
    try:
        async with deadline:
            out = spec.fn(state)
            return (await out) if isawaitable(out) else out
    except TimeoutError as exc:
        if deadline.expired():  # ours, not a TimeoutError the node's own code raised
            raise NodeTimeout(spec.name, spec.timeout_s) from exc
        raise


async def _attempts(spec: _Node, state: Any, sink: EventSink | None) -> Any:
    """Run the node under its policy; any failure that ends it becomes `NodeFailed`."""
    retry = spec.retry
    if retry is None:
        try:
            return await _call_once(spec, state)
        except (GraphBubbleUp, NodeFailed):
            raise
        except Exception as exc:
            raise NodeFailed(spec.name, 1, exc) from exc

    def before_sleep(rs: Any) -> None:
        if sink is not None:
            exc = rs.outcome.exception()
            sink.put(
                RunEvent(
                    kind="error",
                    node=spec.name,
                    task_id=(CURRENT_NODE.get() or (None, None))[1],
                    thread_id=sink.thread_id,
                    namespace=NAMESPACE.get(),
                    data={
                        "error": f"{type(exc).__name__}: {exc}",
                        "attempt": rs.attempt_number,
                        "will_retry": True,
                        "backoff_s": rs.next_action.sleep,
                    },
                )
            )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(retry.max_attempts),
        wait=wait_exponential_jitter(
            initial=retry.initial_s, exp_base=retry.multiplier, max=retry.max_backoff_s, jitter=retry.jitter_s
        ),
        retry=retry_if_exception(
            # an interrupt or a nested node's final failure is never "transient", even under retry_on=(Exception,)
            lambda e: isinstance(e, retry.retry_on) and not isinstance(e, GraphBubbleUp | NodeFailed)
        ),
        reraise=True,
        before_sleep=before_sleep,
    )
    attempt_no = 0
    try:
        async for attempt in retrying:
            attempt_no = attempt.retry_state.attempt_number
            with attempt:
                return await _call_once(spec, state)
    except (GraphBubbleUp, NodeFailed):
        raise
    except Exception as exc:
        raise NodeFailed(spec.name, attempt_no, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


async def _run(spec: _Node, state: Any) -> Any:
    """The observed path: a policy is set or a stream is listening."""
    sink = SINK.get()
    if sink is None:
        return await _attempts(spec, state, None)
    name = spec.name
    task_id = _task_id()
    CURRENT_NODE.set((name, task_id))
    ns = NAMESPACE.get()
    t0 = time.monotonic()
    sink.put(
        RunEvent(kind="node_start", node=name, ts=t0, thread_id=sink.thread_id, namespace=ns, task_id=task_id)
    )
    try:
        out = await _attempts(spec, state, sink)
    except GraphInterrupt as exc:
        _report_interrupts(sink, name, ns, task_id, exc)
        raise
    except NodeFailed as exc:
        if exc.reported:  # already told by a node inside this subgraph
            raise
        exc.reported = True
        sink.put(
            RunEvent(
                kind="error",
                node=name,
                thread_id=sink.thread_id,
                namespace=ns,
                task_id=task_id,
                duration_s=time.monotonic() - t0,
                data={"error": str(exc), "attempt": exc.attempts, "will_retry": False},
            )
        )
        raise
    t1 = time.monotonic()
    sink.put(
        RunEvent(
            kind="node_end",
            node=name,
            ts=t1,
            thread_id=sink.thread_id,
            namespace=ns,
            task_id=task_id,
            duration_s=t1 - t0,
        )
    )
    return out


def _task_id() -> str | None:
    """The running LangGraph task's id (from its checkpoint namespace `...|node:task_id`)."""
    try:
        ns = get_config().get("metadata", {}).get("langgraph_checkpoint_ns", "")
    except RuntimeError:  # not inside a LangGraph task
        return None
    return ns.rpartition(":")[2] or None


def _report_interrupts(
    sink: EventSink, node: str, ns: tuple[str, ...], task_id: str | None, exc: GraphInterrupt
) -> None:
    interrupts = exc.args[0] if exc.args else ()
    for item in interrupts:
        if item.id in sink.seen_interrupts:
            continue
        sink.seen_interrupts.add(item.id)
        sink.put(
            RunEvent(
                kind="interrupt",
                node=node,
                thread_id=sink.thread_id,
                namespace=ns,
                task_id=task_id,
                data={"id": item.id, "value": item.value},
            )
        )


def wrap_router(
    source: str, router: Callable[[Any], Any], state_model: type[BaseModel]
) -> Callable[[Any], Any]:
    """Wrap a conditional-edge router so its failures name where they happened (`NodeFailed`)."""
    label = f"{source} (router {getattr(router, '__name__', 'router')})"
    validate = state_model.model_validate

    async def route(state: Any) -> Any:
        if type(state) is dict:
            state = validate(state)
        try:
            out = router(state)
            return (await out) if isawaitable(out) else out
        except (GraphBubbleUp, NodeFailed):
            raise
        except Exception as exc:
            raise NodeFailed(label, 1, exc) from exc

    route.__name__ = getattr(router, "__name__", "route")
    _present_as(route, router)
    return route
