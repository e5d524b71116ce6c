"""Human-in-the-loop: interrupt, inspect, and resume with a value (also for parallel branches)."""

from __future__ import annotations

import operator
from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from phalanx.agents import END, START, GraphBuilder, GraphError, Send, ThreadNotFound, interrupt


class State(BaseModel):
    question: str = ""
    answers: Annotated[list[str], operator.add] = Field(default_factory=list)
    runs: Annotated[list[str], operator.add] = Field(default_factory=list)


async def draft(state: State) -> dict:
    return {"runs": ["draft"]}


async def approve(state: State) -> dict:
    answer = interrupt({"question": state.question or "ok?"})
    return {"answers": [f"{state.question or 'ok?'}={answer}"], "runs": ["approve"]}


def linear(checkpointer: str):
    return (
        GraphBuilder(State, name="hitl")
        .add_node("draft", draft)
        .add_node("approve", approve)
        .add_edge(START, "draft")
        .add_edge("draft", "approve")
        .add_edge("approve", END)
        .compile(checkpointer=checkpointer)
    )


async def test_interrupt_then_resume_with_value(tmp_path) -> None:
    runtime = linear(f"sqlite:{tmp_path / 'hitl.db'}")
    paused = await runtime.run({}, thread_id="h1")
    assert paused.answers == [] and paused.runs == ["draft"]
    (pending,) = await runtime.pending_interrupts("h1")
    assert pending.value == {"question": "ok?"}
    done = await runtime.resume("h1", value="yes")
    assert done.answers == ["ok?=yes"]
    assert done.runs == ["draft", "approve"]  # draft did not run again
    assert (await runtime.state("h1")).finished
    assert await runtime.resume("h1") == done  # resuming a finished thread changes nothing


async def test_two_parallel_branches_have_distinct_ids_and_answers() -> None:
    def ask_both(state: State) -> list[Send]:
        return [Send("approve", {"question": q}) for q in ("deploy?", "delete?")]

    runtime = (
        GraphBuilder(State, name="hitl2")
        .add_node("draft", draft)
        .add_node("approve", approve)
        .add_edge(START, "draft")
        .add_conditional_edges("draft", ask_both, ["approve"])
        .add_edge("approve", END)
        .compile(checkpointer="memory")
    )
    events = [e async for e in runtime.stream({}, thread_id="p")]
    asked = [e for e in events if e.kind == "interrupt"]
    assert len(asked) == 2 and asked[0].node == "approve"
    assert len(events[-1].data["interrupts"]) == 2
    pending = await runtime.pending_interrupts("p")
    assert len({p.id for p in pending}) == 2
    assert {p.id for p in pending} == {e.data["id"] for e in asked}

    with pytest.raises(GraphError, match="2 pending interrupts"):
        await runtime.resume("p", value="yes")

    answers = {p.id: ("no" if p.value["question"] == "delete?" else "yes") for p in pending}
    done = await runtime.resume("p", values=answers)
    assert sorted(done.answers) == ["delete?=no", "deploy?=yes"]
    assert done.runs.count("draft") == 1


async def test_resume_unknown_thread_is_a_clear_error() -> None:
    runtime = linear("memory")
    with pytest.raises(ThreadNotFound, match="no run recorded for thread 'nope'"):
        await runtime.resume("nope")


async def test_stream_resume_yields_events_and_done() -> None:
    runtime = linear("memory")
    await runtime.run({"question": "ship?"}, thread_id="s")
    events = [e async for e in runtime.stream(thread_id="s", resume=True, value="sure")]
    assert [(e.kind, e.node) for e in events] == [
        ("node_start", "approve"),
        ("node_end", "approve"),
        ("done", None),
    ]
    assert events[-1].data["state"].answers == ["ship?=sure"]


async def test_answer_for_unknown_interrupt_id_is_rejected() -> None:
    runtime = linear("memory")
    await runtime.run({}, thread_id="u")
    with pytest.raises(GraphError, match="no pending interrupt with id"):
        await runtime.resume("u", values={"not-an-id": "yes"})
