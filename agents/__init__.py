"""phalanx.agents: the async agent-graph runtime and the agent systems built on it.

The runtime's public names live here; subsystems (`tool_agent`, `longagent`, `selfevolve`,
`stepcoder`, `audit`) are subpackages.
"""

from langgraph.graph import END, START
from langgraph.types import Command, Send, interrupt

from phalanx.agents.graph.builder import GraphBuilder
from phalanx.agents.graph.checkpoint import default_checkpoint_path
from phalanx.agents.graph.errors import (
    CheckpointerSpecError,
    GraphError,
    GraphValidationError,
    NodeFailed,
    NodeTimeout,
    StepLimitExceeded,
    ThreadNotFound,
)
from phalanx.agents.graph.events import EventKind, RunEvent, emit
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
    "default_checkpoint_path",
    "emit",
    "interrupt",
    "merge_dicts",
]
