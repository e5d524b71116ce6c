"""Value types of the policy layer: stages, actions, what a guard looks at and what it decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    """The three ToolSword stages (methods.md Part B: input, execution, output)."""

    INPUT = "input"
    EXECUTION = "execution"
    OUTPUT = "output"


class GuardAction(StrEnum):
    """What the policy does when a guard flags something."""

    ALLOW = "allow"
    """Record the finding and let it through unchanged."""
    BLOCK = "block"
    """Stop: refuse the user turn, block the call, or withhold the tool output / answer."""
    REDACT = "redact"
    """Remove the flagged spans (sentences) and pass on the rest."""
    ANNOTATE = "annotate"
    """Pass it on with a warning attached that the model (and the user) can see."""
    ASK_HUMAN = "ask-human"
    """Ask a person (runtime interrupt or an approver callback) before going on."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as guards see it: name, description, JSON-schema parameters, risk annotations."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    """Risk flags or free-text risk notes (e.g. `{"destructive": True, "risk": "..."}`)."""

    @classmethod
    def from_openai(cls, schema: dict[str, Any]) -> ToolSpec:
        """Build from an OpenAI function schema (bare or wrapped in `{"type": "function"}`).

        Risk notes are read from an `annotations` mapping when the schema has one.
        """
        fn = schema.get("function", schema)
        notes = fn.get("annotations")
        return cls(
            name=str(fn["name"]),
            description=str(fn.get("description") or ""),
            parameters=dict(fn.get("parameters") or {}),
            annotations=dict(notes) if isinstance(notes, dict) else {},
        )


@dataclass(slots=True)
class GuardContext:
    """Everything a guard may look at for one check; each guard reads the fields of its stage.

    Input guards read `text` (the user turn); execution guards read `tool` and `arguments`;
    output guards read `result` (a tool output) or `text` (the final answer) with `tool_results`.
    """

    stage: Stage
    text: str = ""
    """The user turn (input stage) or the final answer (output stage, answer check)."""
    query: str = ""
    """The user's request, for context (execution and output stages)."""
    tool: ToolSpec | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    """Tool output as text (output stage, result check); None when checking the final answer."""
    tool_results: list[str] = field(default_factory=list)
    """Earlier tool outputs in the turn (output stage, answer check)."""
    tools: list[ToolSpec] = field(default_factory=list)
    """Every tool offered in the turn (lets execution guards compare alternatives)."""


class Finding(BaseModel):
    """What a guard found; the policy maps it to an action."""

    model_config = ConfigDict(extra="forbid")

    flagged: bool
    score: float | None = None
    """Detector score in [0, 1] where it has one (embedding similarity, rule = 1.0)."""
    reason: str = ""
    category: str | None = None
    """Harm / error category (e.g. `fraud`, `arithmetic`, `name-description-mismatch`)."""
    spans: list[str] = Field(default_factory=list)
    """The exact flagged pieces of text (sentences), used by `redact`."""
    destructive: bool = False
    """Execution stage: the call would change or destroy data (ask-human candidates)."""

    @classmethod
    def clean(cls, reason: str = "") -> Finding:
        return cls(flagged=False, reason=reason)


class GuardVerdict(BaseModel):
    """One guard's decision, as recorded in audit results."""

    guard: str
    stage: Stage
    flagged: bool
    action: GuardAction
    """The action taken (ALLOW when not flagged)."""
    reason: str = ""
    score: float | None = None
    category: str | None = None
    spans: list[str] = Field(default_factory=list)
    error: bool = False
    """True when the guard itself failed and the policy failed closed."""

    @property
    def blocked(self) -> bool:
        """Whether this verdict stops the turn / call / output."""
        return self.flagged and self.action == GuardAction.BLOCK
