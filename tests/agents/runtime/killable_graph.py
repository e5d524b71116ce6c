"""A graph run in a subprocess by test_resume_after_kill.py, which kills it with SIGKILL.

Usage: python killable_graph.py run|resume DB WORKDIR THREAD BLOCK_AT

Every node appends its name to WORKDIR/effects.log when it finishes its work (the side
effect the test counts). The node named BLOCK_AT writes WORKDIR/blocked and waits until
WORKDIR/gate exists; the test kills the process while it waits, creates the gate, and
resumes in a fresh process.
"""

from __future__ import annotations

import asyncio
import operator
import os
import sys
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from phalanx.agents import END, START, GraphBuilder, Send

MODE, DB, WORKDIR, THREAD, BLOCK_AT = sys.argv[1:6]
WORK = Path(WORKDIR)


class State(BaseModel):
    shard: int = 0
    done: Annotated[list[str], operator.add] = Field(default_factory=list)
    total: int = 0


def effect(name: str) -> None:
    # O_APPEND writes of one short line are atomic, so parallel nodes never interleave
    fd = os.open(WORK / "effects.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{name}\n".encode())
    finally:
        os.close(fd)


async def maybe_block(name: str) -> None:
    if name == BLOCK_AT and not (WORK / "gate").exists():
        (WORK / "blocked").write_text(name)
        while not (WORK / "gate").exists():
            await asyncio.sleep(0.05)


async def plan(state: State) -> dict:
    effect("plan")
    return {"done": ["plan"]}


def fan_out(state: State) -> list[Send]:
    return [Send("work", {"shard": i}) for i in range(5)]


async def work(state: State) -> dict:
    name = f"work-{state.shard}"
    await maybe_block(name)
    effect(name)
    return {"done": [name]}


async def join(state: State) -> dict:
    await maybe_block("join")
    effect("join")
    return {"done": ["join"], "total": len(state.done)}


async def report(state: State) -> dict:
    effect("report")
    return {"done": ["report"]}


runtime = (
    GraphBuilder(State, name="killable")
    .add_node("plan", plan)
    .add_node("work", work)
    .add_node("join", join)
    .add_node("report", report)
    .add_edge(START, "plan")
    .add_conditional_edges("plan", fan_out, ["work"])
    .add_edge("work", "join")
    .add_edge("join", "report")
    .add_edge("report", END)
    .compile(checkpointer=f"sqlite:{DB}")
)


async def main() -> None:
    if MODE == "run":
        out = await runtime.run({}, thread_id=THREAD)
    else:
        out = await runtime.resume(THREAD)
    (WORK / "result.json").write_text(out.model_dump_json())


asyncio.run(main())
