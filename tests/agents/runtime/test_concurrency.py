"""`max_concurrency` bounds how many nodes of one fan-out run at the same time."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated

from pydantic import BaseModel, Field

from phalanx.agents import END, START, GraphBuilder, Send


class State(BaseModel):
    width: int = 12
    index: int = 0
    done: Annotated[list[int], operator.add] = Field(default_factory=list)


def build(counter: dict[str, int]) -> GraphBuilder[State]:
    async def start(state: State) -> dict:
        return {}

    def fan(state: State) -> list[Send]:
        return [Send("work", {"index": i}) for i in range(state.width)]

    async def work(state: State) -> dict:
        counter["now"] += 1
        counter["peak"] = max(counter["peak"], counter["now"])
        await asyncio.sleep(0.02)
        counter["now"] -= 1
        return {"done": [state.index]}

    return (
        GraphBuilder(State, name="bounded")
        .add_node("start", start)
        .add_node("work", work)
        .add_edge(START, "start")
        .add_conditional_edges("start", fan, ["work"])
        .add_edge("work", END)
    )


async def test_max_concurrency_bounds_parallel_nodes() -> None:
    counter = {"now": 0, "peak": 0}
    out = await build(counter).compile(checkpointer=None, max_concurrency=3).run({})
    assert sorted(out.done) == list(range(12))
    assert counter["peak"] == 3


async def test_without_bound_all_branches_overlap() -> None:
    counter = {"now": 0, "peak": 0}
    await build(counter).compile(checkpointer=None).run({})
    assert counter["peak"] == 12
