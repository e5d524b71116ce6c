"""Value types of a LongAgent team run: its checkpointed state, its result, its error."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import BaseModel, Field

from phalanx.agents import merge_dicts
from phalanx.agents.longagent.communication import conflict_graph

DEFAULT_TASK_DESCRIPTION = "Answer the question based on the given passages. Only give me the answer and do not output any other words."
"""The leader's first-turn task description when none is given (the official one for HotpotQA-style
needle tasks, `dataset2description["needle_hotpotqa"]` in the official data_loader.py)."""


class LongAgentRunError(RuntimeError):
    """A team run stopped on an error; its checkpoint is kept and `resume(thread_id)` continues it."""

    def __init__(self, message: str, thread_id: str) -> None:
        super().__init__(message)
        self.thread_id = thread_id


class TeamState(BaseModel):
    """The team graph's checkpointed state."""

    question: str = ""
    task_description: str = ""
    """The leader's first-turn task description (the question is the task objective)."""
    chunks: list[str] = []
    """One chunk per member (the document never reaches the leader)."""
    round: int = 0
    """Round the members are in (0 before the first instruction)."""
    instruction: str = ""
    leader_messages: list[dict[str, Any]] = []
    """The leader's conversation so far."""
    member_history: Annotated[dict[str, list[dict[str, Any]]], merge_dicts] = {}
    """Per member: its earlier turns (instruction, last round's answers, its reply)."""
    responses: Annotated[list[dict[str, Any]], operator.add] = []
    aggregated: list[str] = []
    """Last round's surviving answers: what the leader and, next round, the members see."""
    answer: str | None = None
    status: str | None = None
    events: Annotated[list[dict[str, Any]], operator.add] = []
    task: dict[str, Any] | None = None
    """A member branch's own work item (set only in the `Send` payload of a member)."""


class TeamResult(BaseModel):
    """What a team run returns."""

    question: str
    answer: str | None
    """The leader's final answer (None when it never gave a valid one)."""
    status: Literal["answered", "forced_answer", "no_answer"]
    """`answered`: the leader chose to answer; `forced_answer`: answered after the last
    round; `no_answer`: the leader's replies stayed invalid after the bounded re-asks."""
    rounds: int
    num_members: int
    thread_id: str
    events: list[dict[str, Any]] = Field(default_factory=list)
    """Every message, cluster and merger decision, in order."""

    def conflict_graph(self) -> nx.DiGraph:
        """Members, clusters and merger decisions of the run as a networkx graph."""
        return conflict_graph(self.events)

    @property
    def failure(self) -> str | None:
        """Why the leader gave no answer (its last invalid reply's error), or None when it answered."""
        if self.status != "no_answer":
            return None
        bad = [e for e in self.events if e["kind"] == "leader_message" and e.get("error")]
        return bad[-1]["error"] if bad else "no valid reply"

    def report(self, *, with_graph: bool = True) -> dict[str, Any]:
        """A JSON-ready summary: answer, status, per-round clusters and (unless `with_graph` is
        False) the conflict graph."""
        report = {
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "rounds": self.rounds,
            "num_members": self.num_members,
            "thread_id": self.thread_id,
            "clusters": [e for e in self.events if e["kind"] == "cluster"],
            "mergers": [e for e in self.events if e["kind"] == "merger"],
            # rounds where `max_merges` stopped the conflict loop with clusters left to compare
            "merge_budget": [e for e in self.events if e["kind"] == "merge_budget"],
        }
        if with_graph:
            report["conflict_graph"] = nx.node_link_data(self.conflict_graph(), edges="edges")
        return report
