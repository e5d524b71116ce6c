"""Build, run and stream a fan-out/fan-in graph with list and dict reducers."""

from __future__ import annotations

import operator
from typing import Annotated

from pydantic import BaseModel, Field

from phalanx.agents import END, START, GraphBuilder, Send, emit, merge_dicts


class State(BaseModel):
    topic: str = ""
    items: Annotated[list[str], operator.add] = Field(default_factory=list)
    notes: Annotated[dict[str, str], merge_dicts] = Field(default_factory=dict)
    count: int = 0


async def plan(state: State) -> dict:
    return {"topic": state.topic.upper()}


def fan_out(state: State) -> list[Send]:
    return [Send("work", {"topic": state.topic, "count": i}) for i in range(4)]


async def work(state: State) -> dict:
    emit("token", text=f"{state.topic}-{state.count}")
    return {"items": [f"{state.topic}-{state.count}"], "notes": {str(state.count): state.topic}}


async def merge(state: State) -> dict:
    return {"count": len(state.items)}


def build() -> GraphBuilder[State]:
    return (
        GraphBuilder(State, name="fan")
        .add_node("plan", plan)
        .add_node("work", work)
        .add_node("merge", merge)
        .add_edge(START, "plan")
        .add_conditional_edges("plan", fan_out, ["work"])
        .add_edge("work", "merge")
        .add_edge("merge", END)
    )


async def test_run_returns_typed_state_with_reduced_fields() -> None:
    runtime = build().compile(checkpointer="memory")
    out = await runtime.run({"topic": "ab"}, thread_id="t")
    assert isinstance(out, State)
    assert sorted(out.items) == ["AB-0", "AB-1", "AB-2", "AB-3"]
    assert out.notes == {str(i): "AB" for i in range(4)}
    assert out.count == 4


async def test_run_accepts_model_input_and_sqlite(tmp_path) -> None:
    runtime = build().compile(checkpointer=f"sqlite:{tmp_path / 'runs.db'}")
    out = await runtime.run(State(topic="q"), thread_id="t1")
    assert out.count == 4
    saved = await runtime.state("t1")
    assert saved.finished and saved.values == out


async def test_stream_order_per_node() -> None:
    runtime = build().compile(checkpointer=None)
    events = [ev async for ev in runtime.stream({"topic": "z"})]
    kinds = [(e.kind, e.node) for e in events]
    assert kinds[0] == ("node_start", "plan") and kinds[1] == ("node_end", "plan")
    assert kinds[-2] == ("node_end", "merge") and kinds[-1] == ("done", None)
    assert sum(1 for k in kinds if k == ("token", "work")) == 4
    assert events[-1].data["state"].count == 4
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:], strict=False))


async def test_parallel_runs_share_one_sqlite_file(tmp_path) -> None:
    import asyncio

    runtime = build().compile(checkpointer=f"sqlite:{tmp_path / 'shared.db'}")
    outs = await asyncio.gather(*(runtime.run({"topic": f"t{i}"}, thread_id=f"th{i}") for i in range(4)))
    assert [o.topic for o in outs] == [f"T{i}" for i in range(4)]
    assert all(o.count == 4 for o in outs)
    assert (await runtime.state("th2")).values.topic == "T2"


def test_bad_checkpointer_and_input_are_clear() -> None:
    import pytest

    from phalanx.agents import CheckpointerSpecError

    with pytest.raises(CheckpointerSpecError, match="sqlite:PATH"):
        build().compile(checkpointer="postgres://x")


async def test_bad_input_names_the_field() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="count"):
        await build().compile(checkpointer=None).run({"count": "many"})
