"""The wrapper every node runs inside: input coercion, events, timeout, retries, `NodeFailed`.

This is the runtime's hot path (it runs once per node per step), so the common case
(no policy, not streaming) is a type check, a context-variable lookup and the call.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp, GraphInterrupt
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from phalanx.agents.graph.errors import NodeFailed, NodeTimeout
from phalanx.agents.graph.events import CURRENT_NODE, NAMESPACE, SINK, EventSink, RunEvent
from phalanx.agents.graph.policy import NodePolicy

NodeFn = Callable[[Any], Awaitable[Any] | Any]


def wrap_node(name: str, fn: NodeFn, state_model: type[BaseModel], policy: NodePolicy | None) -> NodeFn:
    """Build the async callable LangGraph runs for node `name`."""
    isawaitable = inspect.isawaitable
    validate = state_model.model_validate
    timeout_s = policy.timeout_s if policy else None
    retry = policy.retry if policy else None

    async def call_once(state: Any) -> Any:
        # plain functions and callables returning awaitables (partials, bound methods) both work
        if timeout_s is None:
            out = fn(state)
            return (await out) if isawaitable(out) else out
        try:
            async with asyncio.timeout(timeout_s):
                out = fn(state)
                return (await out) if isawaitable(out) else out
        except TimeoutError as exc:
            raise NodeTimeout(name, timeout_s) from exc

    async def attempts(state: Any, sink: EventSink | None) -> Any:
        if retry is None or not retry.retry_on or retry.max_attempts == 1:
            try:
                return await call_once(state)
            except (GraphBubbleUp, NodeFailed):
                raise
            except Exception as exc:
                raise NodeFailed(name, 1, exc) from exc

        def before_sleep(rs: Any) -> None:
            if sink is not None:
                exc = rs.outcome.exception()
                sink.put(
                    RunEvent(
                        kind="error",
                        node=name,
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
                initial=retry.initial_s,
                exp_base=retry.multiplier,
                max=retry.max_backoff_s,
                jitter=retry.jitter_s,
            ),
            retry=retry_if_exception_type(retry.retry_on),
            reraise=True,
            before_sleep=before_sleep,
        )
        attempt_no = 0
        try:
            async for attempt in retrying:
                attempt_no = attempt.retry_state.attempt_number
                with attempt:
                    return await call_once(state)
        except (GraphBubbleUp, NodeFailed):
            raise
        except Exception as exc:
            raise NodeFailed(name, attempt_no, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    simple = timeout_s is None and (retry is None or not retry.retry_on or retry.max_attempts == 1)

    async def node(state: Any) -> Any:
        if type(state) is dict:  # a `Send` payload arrives raw; give the node its typed state
            state = validate(state)
        sink = SINK.get()
        if sink is None:
            if simple:  # the hot path: no policy, not streaming; one frame, no extra awaits
                try:
                    out = fn(state)
                    return (await out) if isawaitable(out) else out
                except (GraphBubbleUp, NodeFailed):
                    raise
                except Exception as exc:
                    raise NodeFailed(name, 1, exc) from exc
            return await attempts(state, None)
        task_id = _task_id()
        CURRENT_NODE.set((name, task_id))
        ns = NAMESPACE.get()
        t0 = time.monotonic()
        sink.put(
            RunEvent(
                kind="node_start", node=name, ts=t0, thread_id=sink.thread_id, namespace=ns, task_id=task_id
            )
        )
        try:
            out = await attempts(state, sink)
        except GraphInterrupt as exc:
            _report_interrupts(sink, name, ns, task_id, exc)
            raise
        except NodeFailed as exc:
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

    node.__name__ = name
    node.__qualname__ = name
    return node


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
