"""Value types of the tool layer: risk annotations, call context, results, verdicts, stats, and the
context a turn guard sees."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from phalanx.models.types import Message
    from phalanx.tools.tool import Tool


class RiskAnnotations(BaseModel):
    """What a tool may do to the world; guards read these to decide how careful to be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    destructive: bool = False
    """May delete or overwrite data (files, records, accounts)."""
    external_effect: bool = False
    """Acts outside the agent (sends mail, posts, pays, calls a third-party API)."""
    reads_private_data: bool = False
    """Reads personal or confidential data (files, mail, databases)."""
    executes_code: bool = False
    """Runs code or shell commands (in a sandbox for phalanx built-ins)."""
    open_world: bool = False
    """Talks to systems the operator does not control (web, remote APIs)."""

    @property
    def is_risky(self) -> bool:
        """Whether any risk flag is set."""
        return any(getattr(self, name) for name in type(self).model_fields)


class RetryConfig(BaseModel):
    """Retries of a tool body on transient errors (run with tenacity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    max_attempts: int = Field(1, ge=1, le=20)
    """Total attempts including the first (1 = no retry)."""
    retry_on: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    """Exception types worth retrying; anything else fails at once."""
    wait_s: float = Field(0.1, ge=0)
    """First back-off wait; doubles each attempt (capped at `max_wait_s`)."""
    max_wait_s: float = Field(5.0, ge=0)
    """Upper bound of one back-off wait."""


VerdictAction = Literal["allow", "block", "rewrite", "ask_human"]
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class HookVerdict:
    """A hook's decision on one call stage. Build with the class methods.

    `allow()` lets the call go on; `block(reason)` stops it (the model sees the
    reason); `rewrite(args=...)` replaces the arguments (before the call) or
    `rewrite(result=...)` the output (after the call / on error); `ask_human(q)`
    asks a person, inside a graph through the runtime's `interrupt`, otherwise
    through the toolset's approver callback.
    """

    action: VerdictAction = "allow"
    reason: str | None = None
    args: dict[str, Any] | None = None
    result: Any = _UNSET
    question: str | None = None

    @classmethod
    def allow(cls) -> HookVerdict:
        return _ALLOW

    @classmethod
    def block(cls, reason: str) -> HookVerdict:
        if not reason:
            raise ValueError("HookVerdict.block needs a reason the model and the audit log can show")
        return cls(action="block", reason=reason)

    @classmethod
    def rewrite(
        cls, *, args: dict[str, Any] | None = None, result: Any = _UNSET, reason: str | None = None
    ) -> HookVerdict:
        if (args is None) == (result is _UNSET):
            raise ValueError("HookVerdict.rewrite takes exactly one of args=... or result=...")
        return cls(action="rewrite", args=args, result=result, reason=reason)

    @classmethod
    def ask_human(cls, question: str) -> HookVerdict:
        return cls(action="ask_human", question=question)

    @property
    def has_result(self) -> bool:
        """Whether this verdict carries a replacement result."""
        return self.result is not _UNSET


_ALLOW = HookVerdict()


@dataclass(slots=True)
class VerdictRecord:
    """One hook verdict as recorded for the audit log."""

    hook: str
    stage: Literal["before_call", "after_call", "on_error", "input", "output"]
    action: VerdictAction
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"hook": self.hook, "stage": self.stage, "action": self.action, "reason": self.reason}


@dataclass(slots=True)
class ToolCallContext:
    """Everything a hook may look at (and rewrite) for one tool call."""

    tool: Tool
    """The tool being called: `tool.name`, `tool.description`, `tool.parameters`, `tool.risk`."""
    args: dict[str, Any]
    """Validated arguments (JSON-like dict); a `rewrite(args=...)` verdict replaces them."""
    call_id: str
    """Id of the call (the model's tool-call id when there is one)."""
    messages: list[Message] | None = None
    """The conversation so far, when the caller passed it (the tool agent always does)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form data from the caller (agent name, scenario id, ...) and for hooks to share."""
    verdicts: list[VerdictRecord] = field(default_factory=list)
    """Verdicts recorded so far on this call."""
    attempt: int = 1
    """Attempt number of the tool body (retries count up)."""


@dataclass
class TurnContext:
    """What a turn guard sees: the user input (stage `input`) or the final answer (`output`)."""

    stage: Literal["input", "output"]
    text: str
    messages: list[Message]
    """Transcript so far."""
    metadata: dict[str, Any] = field(default_factory=dict)


ResultStatus = Literal["ok", "error", "blocked", "invalid_args", "unknown_tool", "unbound", "timeout"]


@dataclass(slots=True)
class ToolResult:
    """What one tool call produced, as the model will see it."""

    call_id: str
    tool: str
    status: ResultStatus
    output: Any = None
    """The body's return value (or the replacement from a hook); None on failure."""
    content: str = ""
    """Text sent back to the model as the tool message."""
    error: str | None = None
    """Why the call failed or was blocked (also in `content`)."""
    issues: list[dict[str, Any]] = field(default_factory=list)
    """For `invalid_args`: one dict per problem (`argument`, `expected`, `got`)."""
    args: dict[str, Any] | None = None
    """Arguments the body ran with (after rewrites), when they validated."""
    duration_s: float = 0.0
    attempts: int = 0
    verdicts: list[VerdictRecord] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        """Whether the call did not complete successfully (blocked counts as an error)."""
        return self.status != "ok"

    def raise_for_error(self) -> ToolResult:
        """Raise the matching `ToolError` if the call failed, else return self."""
        from phalanx.tools import errors

        if self.status == "ok":
            return self
        if self.status == "blocked":
            raise errors.ToolBlocked(self.tool, self.error or "")
        if self.status == "invalid_args":
            raise errors.ToolArgumentError(self.tool, self.issues, self.error or "")
        kind = {
            "unknown_tool": errors.ToolNotFound,
            "unbound": errors.ToolUnbound,
            "timeout": errors.ToolTimeout,
        }.get(self.status, errors.ToolExecutionError)
        raise kind(self.error or self.content)


def render_output(output: Any) -> str:
    """Text the model sees for a tool's return value."""
    if isinstance(output, str):
        return output
    if type(output) is int:
        return str(output)
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    try:
        return json.dumps(output, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(output)


@dataclass(slots=True)
class CallStats:
    """Counters of a toolset's calls (a plain dataclass: it is updated on the hot path)."""

    calls: int = 0
    ok: int = 0
    errors: int = 0
    """Calls that ended in any non-ok status (includes the categories below)."""
    argument_errors: int = 0
    """Calls whose arguments did not parse or validate (the model got a structured message)."""
    blocked: int = 0
    unknown_tool: int = 0
    timeouts: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a dict (for JSON output)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def count(self, result: ToolResult) -> None:
        """Add one finished call."""
        self.calls += 1
        status = result.status
        if status == "ok":
            self.ok += 1
            return
        self.errors += 1
        if status == "invalid_args":
            self.argument_errors += 1
        elif status == "blocked":
            self.blocked += 1
        elif status == "unknown_tool":
            self.unknown_tool += 1
        elif status == "timeout":
            self.timeouts += 1
