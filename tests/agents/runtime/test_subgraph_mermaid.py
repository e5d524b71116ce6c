"""Subgraphs as nodes (reducer fields not double counted, namespaced events) and Mermaid export."""

from __future__ import annotations

import operator
from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from phalanx.agents import END, START, GraphBuilder, Send, interrupt, merge_dicts


class Parent(BaseModel):
    topic: str = ""
    log: Annotated[list[str], operator.add] = Field(default_factory=list)
    tags: Annotated[dict[str, int], merge_dicts] = Field(default_factory=dict)
    summary: str = ""


class Child(BaseModel):
    topic: str = ""
    log: Annotated[list[str], operator.add] = Field(default_factory=list)
    tags: Annotated[dict[str, int], merge_dicts] = Field(default_factory=dict)
    scratch: int = 0


async def research(state: Child) -> dict:
    return {"log": [f"research:{state.topic}"], "tags": {"research": 1}, "scratch": 5}


async def cite(state: Child) -> dict:
    return {"log": ["cite"], "tags": {"cite": state.scratch}}


def child() -> GraphBuilder[Child]:
    return (
        GraphBuilder(Child, name="child")
        .add_node("research", research)
        .add_node("cite", cite)
        .add_edge(START, "research")
        .add_edge("research", "cite")
        .add_edge("cite", END)
    )


async def intro(state: Parent) -> dict:
    return {"log": ["intro"], "tags": {"intro": 1}}


async def wrap_up(state: Parent) -> dict:
    return {"summary": " | ".join(state.log)}


def parent(sub) -> GraphBuilder[Parent]:
    return (
        GraphBuilder(Parent, name="parent")
        .add_node("intro", intro)
        .add_node("study", sub)
        .add_node("wrap_up", wrap_up)
        .add_edge(START, "intro")
        .add_edge("intro", "study")
        .add_edge("study", "wrap_up")
        .add_edge("wrap_up", END)
    )


async def test_subgraph_adds_only_its_own_items() -> None:
    out = await parent(child()).compile(checkpointer="memory").run({"topic": "ants"}, thread_id="s")
    assert out.log == ["intro", "research:ants", "cite"]
    assert out.tags == {"intro": 1, "research": 1, "cite": 5}
    assert out.summary == "intro | research:ants | cite"


async def test_compiled_runtime_works_as_subgraph_and_events_are_namespaced() -> None:
    runtime = parent(child().compile(checkpointer=None)).compile(checkpointer=None)
    events = [e async for e in runtime.stream({"topic": "bees"})]
    inner = [(e.kind, e.node) for e in events if e.namespace == ("study",)]
    assert inner == [
        ("node_start", "research"),
        ("node_end", "research"),
        ("node_start", "cite"),
        ("node_end", "cite"),
    ]
    outer = [(e.kind, e.node) for e in events if e.namespace == () and e.node == "study"]
    assert outer == [("node_start", "study"), ("node_end", "study")]
    assert events[-1].data["state"].log == ["intro", "research:bees", "cite"]


async def test_parallel_subgraph_branches() -> None:
    def fan(state: Parent) -> list[Send]:
        return [Send("study", {"topic": t}) for t in ("a", "b", "c")]

    runtime = (
        GraphBuilder(Parent, name="many")
        .add_node("intro", intro)
        .add_node("study", child())
        .add_edge(START, "intro")
        .add_conditional_edges("intro", fan, ["study"])
        .add_edge("study", END)
        .compile(checkpointer="memory")
    )
    out = await runtime.run({}, thread_id="p")
    assert sorted(out.log) == sorted(
        ["intro", "research:a", "research:b", "research:c", "cite", "cite", "cite"]
    )


async def test_interrupt_inside_subgraph_resumes() -> None:
    async def ask(state: Child) -> dict:
        return {"log": [f"asked:{interrupt('go?')}"]}

    inner = GraphBuilder(Child, name="inner").add_node("ask", ask).add_edge(START, "ask").add_edge("ask", END)
    runtime = parent(inner).compile(checkpointer="memory")
    await runtime.run({}, thread_id="i")
    (pending,) = await runtime.pending_interrupts("i")
    assert pending.value == "go?"
    out = await runtime.resume("i", value="yes")
    assert out.log == ["intro", "asked:yes"]


def test_mermaid_lists_nodes_and_edge_kinds() -> None:
    def route(state: Parent) -> str:
        return END

    b = parent(child()).add_node("extra", intro).add_conditional_edges("wrap_up", route, ["extra", END])
    b.add_edge("extra", END)
    text = b.mermaid()
    assert text.splitlines()[3] == "flowchart TD"
    assert '    n_study[["study"]]' in text  # subgraph shape
    assert "    __start__ --> n_intro" in text
    assert "    n_wrap_up -.->|route| n_extra" in text
    assert "    n_wrap_up -.->|route| __end__" in text
    assert b.compile(checkpointer=None).mermaid() == text


async def test_resume_after_failure_inside_subgraph_keeps_finished_inner_nodes(tmp_path) -> None:
    from phalanx.agents import NodeFailed

    calls: list[str] = []
    broken = {"on": True}

    async def first(state: Child) -> dict:
        calls.append("first")
        return {"log": ["first"]}

    async def second(state: Child) -> dict:
        calls.append("second")
        if broken["on"]:
            raise RuntimeError("disk full")
        return {"log": ["second"]}

    inner = (
        GraphBuilder(Child, name="inner")
        .add_node("first", first)
        .add_node("second", second)
        .add_edge(START, "first")
        .add_edge("first", "second")
        .add_edge("second", END)
    )
    runtime = parent(inner).compile(checkpointer=f"sqlite:{tmp_path / 'sub.db'}")
    with pytest.raises(NodeFailed) as info:
        await runtime.run({}, thread_id="f")
    assert info.value.node == "second"
    broken["on"] = False
    out = await runtime.resume("f")
    assert out.log == ["intro", "first", "second"]
    assert calls == ["first", "second", "second"]  # `first` ran once
