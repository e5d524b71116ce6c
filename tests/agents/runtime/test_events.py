"""The typed event stream: order, node-emitted events, errors, JSON form."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from phalanx.agents import END, START, GraphBuilder, NodeFailed, RunEvent, emit
from phalanx.models.scripted import ScriptedModel
from phalanx.models.types import Message


class State(BaseModel):
    prompt: str = ""
    reply: str = ""


async def think(state: State) -> dict:
    model = ScriptedModel(lambda msgs, tools: "two words")
    response = await model.chat([Message.user(state.prompt)], on_token=lambda t: emit("token", text=t))
    emit("tool_call", name="search", arguments='{"q": "x"}')
    emit("progress", pct=50)
    await asyncio.to_thread(emit, "custom", where="thread")
    return {"reply": response.message.content}


async def explode(state: State) -> dict:
    raise RuntimeError("kaboom")


def build(second):
    return (
        GraphBuilder(State, name="ev")
        .add_node("think", think)
        .add_node("second", second)
        .add_edge(START, "think")
        .add_edge("think", "second")
        .add_edge("second", END)
        .compile(checkpointer=None)
    )


async def test_events_in_order_with_tokens_tools_and_custom() -> None:
    async def noop(state: State) -> dict:
        return {}

    events = [e async for e in build(noop).stream({"prompt": "hi"}, thread_id="t")]
    assert [e.kind for e in events] == [
        "node_start", "token", "token", "tool_call", "custom", "custom", "node_end",
        "node_start", "node_end", "done",
    ]  # fmt: skip
    assert "".join(e.data["text"] for e in events if e.kind == "token") == "two words"
    assert events[3].data == {"name": "search", "arguments": '{"q": "x"}'} and events[3].node == "think"
    assert events[4].data == {"type": "progress", "pct": 50}
    assert events[5].data == {"where": "thread"} and events[5].node == "think"
    assert events[6].duration_s is not None and events[6].duration_s >= 0
    assert all(e.thread_id == "t" for e in events)
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    line = json.loads(events[-1].to_json())
    assert line["kind"] == "done" and line["data"]["state"]["reply"] == "two words"
    assert RunEvent.model_validate_json(events[1].to_json()) == events[1]


async def test_failure_yields_error_event_then_raises() -> None:
    seen: list[RunEvent] = []
    with pytest.raises(NodeFailed, match="'second'"):
        async for event in build(explode).stream({}):
            seen.append(event)
    assert [(e.kind, e.node) for e in seen][-2:] == [("node_start", "second"), ("error", "second")]
    assert "kaboom" in seen[-1].data["error"] and seen[-1].data["will_retry"] is False


async def test_emit_outside_a_run_is_harmless() -> None:
    emit("token", text="nobody listens")
    out = await build(lambda s: {}).run({"prompt": "x"})  # a plain (sync) function node works too
    assert out.reply == "two words"


async def test_breaking_out_of_stream_cancels_run() -> None:
    started: list[str] = []

    async def slow(state: State) -> dict:
        started.append("slow")
        await asyncio.sleep(30)
        return {}

    stream = build(slow).stream({})
    async for event in stream:
        if event.kind == "node_start" and event.node == "second":
            break
    await stream.aclose()
    assert started == ["slow"]


async def test_router_failure_and_subgraph_failure_each_reported_once() -> None:
    def bad_router(state: State) -> str:
        raise LookupError("nowhere to go")

    async def ok(state: State) -> dict:
        return {}

    runtime = (
        GraphBuilder(State, name="r")
        .add_node("a", ok)
        .add_edge(START, "a")
        .add_conditional_edges("a", bad_router, [END])
        .compile(checkpointer=None)
    )
    seen: list[RunEvent] = []
    with pytest.raises(NodeFailed, match="router bad_router"):
        async for event in runtime.stream({}):
            seen.append(event)
    assert [e.kind for e in seen] == ["node_start", "node_end", "error"]
    assert "nowhere to go" in seen[-1].data["error"]

    child = (
        GraphBuilder(State, name="c").add_node("boom", explode).add_edge(START, "boom").add_edge("boom", END)
    )
    outer = GraphBuilder(State, name="o").add_node("sub", child).add_edge(START, "sub").add_edge("sub", END)
    seen.clear()
    with pytest.raises(NodeFailed, match="'boom'"):
        async for event in outer.compile(checkpointer=None).stream({}):
            seen.append(event)
    errors = [e for e in seen if e.kind == "error"]
    assert len(errors) == 1 and errors[0].node == "boom" and errors[0].namespace == ("sub",)


async def test_langgraph_stream_writer_values_appear_as_custom_events() -> None:
    from langgraph.config import get_stream_writer

    async def native(state: State) -> dict:
        get_stream_writer()({"step": "native"})
        return {}

    events = [e async for e in build(native).stream({"prompt": "p"})]
    custom = [e for e in events if e.kind == "custom" and e.data == {"step": "native"}]
    assert len(custom) == 1
    assert events.index(custom[0]) < len(events) - 1  # before `done`
