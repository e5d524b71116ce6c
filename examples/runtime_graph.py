"""Compose a typed agent graph: plan -> parallel workers (Send fan-out) -> merge, durable and streamed."""

import asyncio
import operator
from typing import Annotated

from pydantic import BaseModel

from phalanx.agents import END, START, GraphBuilder, NodePolicy, RetryPolicy, Send, emit


class Research(BaseModel):
    topic: str
    question: str = ""
    notes: Annotated[list[str], operator.add] = []
    report: str = ""


async def plan(s: Research) -> dict:
    return {"question": f"What matters about {s.topic}?"}


async def worker(s: Research) -> dict:
    emit("token", text=f"looking at {s.question}")
    return {"notes": [f"{s.question} -> answered"]}


async def merge(s: Research) -> dict:
    return {"report": "\n".join(sorted(s.notes))}


def fan_out(s: Research) -> list[Send]:
    return [
        Send("worker", {"topic": s.topic, "question": f"{s.topic}: {a}"}) for a in ("cost", "risk", "speed")
    ]


graph = (
    GraphBuilder(Research, name="research")
    .add_node("plan", plan)
    .add_node(
        "worker", worker, policy=NodePolicy(timeout_s=30, retry=RetryPolicy(retry_on=(ConnectionError,)))
    )
    .add_node("merge", merge)
    .add_edge(START, "plan")
    .add_conditional_edges("plan", fan_out, ["worker"])
    .add_edge("worker", "merge")
    .add_edge("merge", END)
)


async def main(db: str = "research.db") -> Research:
    runtime = graph.compile(checkpointer=f"sqlite:{db}", max_concurrency=2)
    async for event in runtime.stream({"topic": "solar"}, thread_id="solar-1"):
        print(f"{event.kind:<10} {event.node or ''}")
    state = await runtime.resume("solar-1")  # already finished: returns the saved state, runs nothing
    print(state.report)
    return state


if __name__ == "__main__":
    asyncio.run(main())
