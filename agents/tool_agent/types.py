"""Value types of the tool-calling agent: its result, stats, and the turn-guard seam."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from phalanx.models import Message
from phalanx.tools import HookVerdict

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


@dataclass
class TurnContext:
    """What a turn guard sees: the user input (stage `input`) or the final answer (`output`)."""

    stage: Literal["input", "output"]
    text: str
    messages: list[Message]
    """Transcript so far."""
    metadata: dict[str, Any] = field(default_factory=dict)


TurnGuard = Callable[[TurnContext], Awaitable[HookVerdict]]
"""An async callable checking the user turn or the final answer.

It returns `HookVerdict.allow()`, `.block(reason)` (the run stops with
`blocked_input` / `blocked_output` and answers with the agent's refusal text) or
`.rewrite(result="new text")` (the text is replaced). ToolSword's input- and
output-stage guards plug in here; tool-stage guards are `ToolHook`s on the toolset.
"""
