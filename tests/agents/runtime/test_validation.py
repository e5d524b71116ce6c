"""Static validation: each shape problem is found before running, with a clear message."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from phalanx.agents import END, START, GraphBuilder, GraphValidationError


class State(BaseModel):
    n: int = 0


async def step(state: State) -> dict:
    return {"n": state.n + 1}


def graph(*names: str) -> GraphBuilder[State]:
    b = GraphBuilder(State, name="v")
    for name in names:
        b.add_node(name, step)
    return b


def problems_of(builder: GraphBuilder[State], **kw) -> list[str]:
    with pytest.raises(GraphValidationError) as info:
        builder.compile(checkpointer=None, **kw)
    assert str(len(info.value.problems)) in str(info.value)
    return info.value.problems


def test_edge_to_unknown_node_suggests_close_name() -> None:
    b = graph("plan", "write").add_edge(START, "plan").add_edge("plan", "wrtie").add_edge("write", END)
    (problem,) = problems_of(b)
    assert "unknown node 'wrtie'" in problem and "did you mean 'write'" in problem


def test_conditional_edge_to_unknown_node() -> None:
    b = graph("a").add_edge(START, "a").add_conditional_edges("a", lambda s: END, ["b", END])
    (problem,) = problems_of(b)
    assert "conditional edges from a" in problem and "'b'" in problem


def test_unreachable_node() -> None:
    b = graph("a", "orphan").add_edge(START, "a").add_edge("a", END).add_edge("orphan", END)
    assert problems_of(b) == ["node 'orphan' is unreachable from START (nothing leads to it)"]


def test_dead_end_node() -> None:
    b = graph("a", "b").add_edge(START, "a").add_edge("a", "b")
    (problem,) = problems_of(b)
    assert "'b' is a dead end" in problem and "no path from it to END" in problem


def test_cycle_needs_step_limit() -> None:
    def again(state: State) -> str:
        return "a" if state.n < 3 else END

    b = graph("a", "b").add_edge(START, "a").add_edge("a", "b").add_conditional_edges("b", again, ["a", END])
    (problem,) = problems_of(b)
    assert "cycle" in problem and "a -> b -> a" in problem and "step_limit" in problem
    runtime = b.compile(checkpointer=None, step_limit=20)
    assert runtime.problems() == []


async def test_cycle_with_step_limit_runs() -> None:
    def again(state: State) -> str:
        return "a" if state.n < 3 else END

    b = graph("a").add_edge(START, "a").add_conditional_edges("a", again, ["a", END])
    out = await b.compile(checkpointer=None, step_limit=10).run({})
    assert out.n == 3


def test_no_entry_point_and_empty_graph() -> None:
    assert "no entry point" in problems_of(graph("a").add_edge("a", END))[0]
    assert "no nodes" in problems_of(GraphBuilder(State))[0]


def test_several_problems_reported_together() -> None:
    b = graph("a", "b", "c").add_edge(START, "a").add_edge("a", END).add_edge("a", "b").add_edge("c", END)
    found = problems_of(b)
    assert len(found) == 2
    assert any("'c' is unreachable" in p for p in found) and any("'b' is a dead end" in p for p in found)


def test_loop_without_exit_is_one_problem() -> None:
    def back(state: State) -> str:
        return "x"

    b = graph("a", "x", "y").add_edge(START, "a").add_edge("a", END).add_edge("a", "x").add_edge("x", "y")
    b.add_conditional_edges("y", back, ["x"])
    found = problems_of(b, step_limit=10)
    assert found == ["nodes 'x', 'y' loop with no path to END; add an exit to END"]


def test_subgraph_problems_are_prefixed() -> None:
    child = graph("x").add_edge(START, "x")  # x has no way to END
    b = GraphBuilder(State).add_node("sub", child).add_edge(START, "sub").add_edge("sub", END)
    (problem,) = problems_of(b)
    assert problem.startswith("in subgraph 'sub': node 'x' is a dead end")


def test_bad_node_names_rejected_at_once() -> None:
    with pytest.raises(ValueError, match="already exists"):
        graph("a").add_node("a", step)
    with pytest.raises(ValueError, match="invalid node name"):
        graph().add_node(END, step)
    with pytest.raises(TypeError, match="pydantic BaseModel"):
        GraphBuilder(dict)  # type: ignore[arg-type]
