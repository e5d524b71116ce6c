"""The demo graph behind `phalanx demo`: plan -> parallel workers (fan-out) -> merge.

It runs offline on a `scripted:` model by default (any `ChatModel` works), streams
tokens and a tool call from each worker, and makes one worker's first attempt fail with
a transient error so the retry policy shows in the live view.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from langgraph.types import Send
from pydantic import BaseModel, Field

from phalanx.agents.graph.builder import END, START, GraphBuilder
from phalanx.agents.graph.events import emit
from phalanx.agents.graph.policy import NodePolicy, RetryPolicy
from phalanx.agents.graph.reducers import merge_dicts
from phalanx.models import ChatModel, Message
from phalanx.models.scripted import ScriptedModel

DEFAULT_TOPIC = "how durable agent graphs survive crashes"


class DemoState(BaseModel):
    """State of the demo graph."""

    topic: str = DEFAULT_TOPIC
    """What the team researches."""
    subtasks: list[str] = Field(default_factory=list)
    """The planner's subtasks, one worker each."""
    subtask: str = ""
    """A worker's own subtask (set per fan-out branch)."""
    findings: Annotated[dict[str, str], merge_dicts] = Field(default_factory=dict)
    """Each worker's answer, keyed by subtask (merged across parallel branches)."""
    report: str = ""
    """The merged report."""


class TransientServiceError(ConnectionError):
    """Stands in for a rate limit or a dropped connection (retried by the worker policy)."""


def demo_model(latency_s: float = 0.4) -> ScriptedModel:
    """A scripted model that plans, answers subtasks and summarises, with simulated latency."""

    async def reply(messages: Sequence[Message], tools: list[dict[str, Any]] | None) -> str:
        role = messages[0].content or ""
        user = messages[-1].content or ""
        if "planner" in role:
            await asyncio.sleep(latency_s / 2)
            return "\n".join(
                f"{i}. {aspect} of {user}"
                for i, aspect in enumerate(("checkpointing", "retries", "human review", "fan-out"), 1)
            )
        if "worker" in role:
            await asyncio.sleep(latency_s * (1 + len(user) % 3) / 2)  # uneven, so branches finish apart
            aspect = user.split(" of ")[0]
            return (
                f"{aspect.capitalize()}: each step is saved before the next starts, so work is never redone."
            )
        await asyncio.sleep(latency_s / 4)
        return f"Report on {user.splitlines()[0] if user else 'the topic'}: all findings agree."

    return ScriptedModel(reply, name="scripted:demo")


def build_demo_graph(
    model: ChatModel | None = None, *, latency_s: float = 0.4, flaky: bool = True
) -> GraphBuilder[DemoState]:
    """Plan -> one `worker` per subtask (parallel `Send`s) -> `merge`.

    Args:
        model: The chat model every node uses (default: `demo_model(latency_s)`).
        latency_s: Simulated model latency of the default model.
        flaky: Make the second worker's first attempt raise `TransientServiceError`.
    """
    llm = model or demo_model(latency_s)
    failed_once: set[str] = set()

    async def ask(system: str, user: str) -> str:
        response = await llm.chat(
            [Message.system(system), Message.user(user)], on_token=lambda t: emit("token", text=t)
        )
        return response.message.content or ""

    async def plan(state: DemoState) -> dict:
        text = await ask("You are the planner. List 2-5 numbered subtasks, one per line.", state.topic)
        steps = [re.sub(r"^\s*\d+[.)]\s*", "", line).strip() for line in text.splitlines()]
        steps = [s for s in steps if s][:5] or [f"overview of {state.topic}", f"risks of {state.topic}"]
        return {"subtasks": steps}

    def fan_out(state: DemoState) -> list[Send]:
        return [
            Send("worker", {"topic": state.topic, "subtasks": state.subtasks, "subtask": s})
            for s in state.subtasks
        ]

    async def worker(state: DemoState) -> dict:
        if flaky and state.subtasks[1:2] == [state.subtask] and state.subtask not in failed_once:
            failed_once.add(state.subtask)
            raise TransientServiceError("429 rate limited (simulated)")
        words = len(state.subtask.split())
        emit("tool_call", name="word_count", arguments=json.dumps({"text": state.subtask}), result=words)
        answer = await ask("You are a worker. Answer the subtask in one sentence.", state.subtask)
        return {"findings": {state.subtask: answer}}

    async def merge(state: DemoState) -> dict:
        notes = "\n".join(f"- {k}: {v}" for k, v in state.findings.items())
        summary = await ask("You are the editor. Summarise the findings.", f"{state.topic}\n{notes}")
        return {"report": f"{summary}\n{notes}"}

    retry = NodePolicy(
        timeout_s=30,
        retry=RetryPolicy(max_attempts=3, retry_on=(TransientServiceError,), initial_s=0.3, jitter_s=0.1),
    )
    return (
        GraphBuilder(DemoState, name="demo")
        .add_node("plan", plan)
        .add_node("worker", worker, policy=retry)
        .add_node("merge", merge)
        .add_edge(START, "plan")
        .add_conditional_edges("plan", fan_out, ["worker"])
        .add_edge("worker", "merge")
        .add_edge("merge", END)
    )
