"""`load_graph` / `check_graph`: the library side of `phalanx graph mermaid | validate`."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from phalanx.agents import (
    END,
    START,
    GraphBuilder,
    GraphLoadError,
    GraphRuntime,
    GraphValidationError,
    check_graph,
    load_graph,
)


class State(BaseModel):
    n: int = 0


async def step(state: State) -> dict:
    return {"n": state.n + 1}


def again(state: State) -> str:
    return "a" if state.n < 3 else END


def looping() -> GraphBuilder[State]:
    """A bounded loop a -> b -> a: valid only with a step limit."""
    b = GraphBuilder(State, name="loop")
    b.add_node("a", step).add_node("b", step)
    return b.add_edge(START, "a").add_edge("a", "b").add_conditional_edges("b", again, ["a", END])


LOOP_RUNTIME = looping().compile(checkpointer=None, step_limit=20)
NOT_A_GRAPH = 42


def test_load_graph_takes_a_builder_a_runtime_or_a_function_returning_one() -> None:
    assert isinstance(load_graph(f"{__name__}:looping"), GraphBuilder)
    assert load_graph(f"{__name__}:LOOP_RUNTIME") is LOOP_RUNTIME
    assert isinstance(load_graph("phalanx.agents:build_demo_graph"), GraphBuilder)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nomodule", "is not MODULE:ATTRIBUTE"),
        ("no_such_module_xyz:graph", "cannot load 'no_such_module_xyz:graph'"),
        (f"{__name__}:missing", "cannot load"),
        (f"{__name__}:NOT_A_GRAPH", "is a int, not a GraphBuilder or GraphRuntime"),
    ],
)
def test_a_bad_target_is_a_graph_load_error(target: str, message: str) -> None:
    with pytest.raises(GraphLoadError, match=message):
        load_graph(target)


def test_check_graph_uses_the_runtimes_step_limit() -> None:
    assert isinstance(LOOP_RUNTIME, GraphRuntime)
    assert check_graph(LOOP_RUNTIME).name == "loop"  # the runtime's step limit bounds the cycle
    with pytest.raises(GraphValidationError, match="cycle"):
        check_graph(looping())  # a builder alone: the cycle is unbounded
    assert check_graph(looping(), step_limit=10).name == "loop"
