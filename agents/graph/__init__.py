"""The typed async agent-graph runtime (a thin layer on LangGraph).

Builder (`builder.py`) declares; runtime (`runtime.py`) runs, streams and resumes.
"""

from langgraph.graph import END, START
from langgraph.types import Command, Send, interrupt

from phalanx.agents.graph.builder import GraphBuilder
from phalanx.agents.graph.checkpoint import default_checkpoint_path
from phalanx.agents.graph.errors import (
    CheckpointerSpecError,
    GraphError,
    GraphLoadError,
    GraphValidationError,
    NodeFailed,
    NodeTimeout,
    StepLimitExceeded,
    ThreadNotFound,
)
from phalanx.agents.graph.events import EventKind, RunEvent, emit
from phalanx.agents.graph.live import render_live
from phalanx.agents.graph.loader import check_graph, load_graph
from phalanx.agents.graph.policy import NodePolicy, RetryPolicy
from phalanx.agents.graph.reducers import append, merge_dicts
from phalanx.agents.graph.runtime import GraphRuntime, PendingInterrupt, ThreadState

__all__ = [
    "END",
    "START",
    "CheckpointerSpecError",
    "Command",
    "EventKind",
    "GraphBuilder",
    "GraphError",
    "GraphLoadError",
    "GraphRuntime",
    "GraphValidationError",
    "NodeFailed",
    "NodePolicy",
    "NodeTimeout",
    "PendingInterrupt",
    "RetryPolicy",
    "RunEvent",
    "Send",
    "StepLimitExceeded",
    "ThreadNotFound",
    "ThreadState",
    "append",
    "check_graph",
    "default_checkpoint_path",
    "emit",
    "interrupt",
    "load_graph",
    "merge_dicts",
    "render_live",
]
