"""Value types of the tool-calling agent: its result and stats.

The turn-guard seam (`TurnContext`, `TurnGuard`) is defined in `phalanx.tools`, beside `ToolHook`,
so that `phalanx.policies` can implement it without importing this layer; it is re-exported here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from phalanx.models import Message
from phalanx.tools import TurnContext, TurnGuard

StopReason = Literal[
    "final_answer",
    "max_steps",
    "max_tool_errors",
    "malformed_output",
    "blocked_input",
    "blocked_output",
    "model_error",
]


class ToolCallRecord(BaseModel):
    """One tool call the agent made, and how it ended."""

    step: int
    """Model call (1-based) that asked for it."""
    call_id: str
    name: str
    arguments: str
    """Arguments exactly as the model produced them (JSON text)."""
    status: str
    """`ToolResult.status` (ok, error, blocked, invalid_args, unknown_tool, unbound, timeout), or
    `repeated` for a call identical to an earlier successful one (not run again)."""
    content: str
    """What the model was told."""
    error: str | None = None


class AgentStats(BaseModel):
    """Counters of one agent run."""

    steps: int = 0
    """Model calls made (re-asks included)."""
    tool_calls: int = 0
    tool_errors: int = 0
    """Tool calls that did not end ok (argument errors and blocks included)."""
    argument_errors: int = 0
    """Tool calls whose arguments failed validation (the model got a structured message)."""
    blocked_calls: int = 0
    repairs: int = 0
    """Re-asks after a reply that did not parse."""
    repeated_calls: int = 0
    """Calls identical to an earlier successful call: not run again, the model was reminded."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0


class AgentResult(BaseModel):
    """What `ToolAgent.run` returns."""

    answer: str | None
    """The final answer (the refusal text when a turn guard blocked; None when no answer was reached)."""
    stop_reason: StopReason
    detail: str = ""
    """Why the run stopped, in words (limits reached, parse error, guard reason)."""
    messages: list[Message] = Field(default_factory=list)
    """The whole transcript: system, user, assistant (with tool calls), tool results, re-asks."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    stats: AgentStats = Field(default_factory=AgentStats)
    turn_verdicts: list[dict[str, Any]] = Field(default_factory=list)
    """Verdicts of the turn guards (`hook`, `stage`, `action`, `reason`)."""

    @property
    def ok(self) -> bool:
        """Whether the run ended with a final answer."""
        return self.stop_reason == "final_answer"


__all__ = [
    "AgentResult",
    "AgentStats",
    "StopReason",
    "ToolCallRecord",
    "TurnContext",
    "TurnGuard",
]
