"""`scripted:` models: deterministic, offline chat models for tests, demos and replays.

Three ways to script a model:
  * `ScriptedModel(fn)`: `fn(messages, tools)` (sync or async) returns a string,
    a `Message`, a `ToolCall`, or a `ChatResponse`.
  * `scripted:FILE` (YAML or JSON): ordered `rules` matched against the
    conversation, an optional `transcript` of replies served in order, and a
    `default` reply.
  * `scripted:NAME`: a named model registered with `@register_scripted_model`
    (other layers ship reference agents this way, e.g. `scripted:echo`).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.errors import ModelSpecError
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message, ToolCall

Reply = str | Message | ToolCall | ChatResponse
ScriptFn = Callable[[Sequence[Message], list[dict[str, Any]] | None], Reply | Awaitable[Reply]]


class ScriptedModel:
    """A chat model whose replies come from a Python function."""

    supports_tools = True

    def __init__(self, fn: ScriptFn, name: str = "scripted") -> None:
        self.fn = fn
        self.name = name
        self.calls: list[list[Message]] = []
        """Every conversation this model was asked to answer, in order (for assertions)."""

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        self.calls.append(list(messages))
        out = self.fn(messages, tools)
        if inspect.isawaitable(out):
            out = await out
        response = _to_response(out, self.name)
        if on_token and response.message.content:
            for piece in re.findall(r"\S+\s*|\s+", response.message.content):
                on_token(piece)
        return response

    async def aclose(self) -> None:
        return None


def _to_response(out: Reply, name: str) -> ChatResponse:
    if isinstance(out, ChatResponse):
        return out
    if isinstance(out, ToolCall):
        return ChatResponse(
            message=Message.assistant(tool_calls=[out]), finish_reason="tool_calls", model=name
        )
    if isinstance(out, Message):
        reason = "tool_calls" if out.tool_calls else "stop"
        return ChatResponse(message=out, finish_reason=reason, model=name)
    if isinstance(out, str):
        return ChatResponse(message=Message.assistant(out), model=name)
    raise TypeError(
        f"scripted model function returned {type(out).__name__}; expected str, Message, ToolCall or ChatResponse"
    )


class ScriptRule(BaseModel):
    """One rule of a scripted-model file: the first rule whose conditions all hold answers."""

    contains: str | None = None
    """Case-insensitive substring of the last user message."""
    regex: str | None = None
    """Regular expression searched in the last user message."""
    last_role: str | None = None
    """Role of the last message (e.g. `tool` to answer after a tool result)."""
    reply: str | None = None
    """Text to answer with (may use `{user}` and `{tool}` for the last user / tool content)."""
    tool_call: dict[str, Any] | None = None
    """`{name, arguments}` of a tool call to make instead of text."""


class ScriptFile(BaseModel):
    """Schema of a `scripted:FILE` file."""

    rules: list[ScriptRule] = Field(default_factory=list)
    transcript: list[str | dict[str, Any]] = Field(default_factory=list)
    """Replies served in order, one per call, before rules apply."""
    default: str = "I don't know."


class FileScript:
    """Replies driven by a `ScriptFile` (rules, transcript, default)."""

    def __init__(self, script: ScriptFile) -> None:
        self.script = script
        self._turn = 0

    def __call__(self, messages: Sequence[Message], tools: list[dict[str, Any]] | None) -> Reply:
        if self._turn < len(self.script.transcript):
            item = self.script.transcript[self._turn]
            self._turn += 1
            if isinstance(item, dict):
                return _rule_call(item)
            return item
        user = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
        tool = next((m.content or "" for m in reversed(messages) if m.role == "tool"), "")
        last_role = messages[-1].role if messages else None
        for rule in self.script.rules:
            if rule.contains is not None and rule.contains.lower() not in user.lower():
                continue
            if rule.regex is not None and not re.search(rule.regex, user):
                continue
            if rule.last_role is not None and rule.last_role != last_role:
                continue
            if rule.tool_call is not None:
                return _rule_call(rule.tool_call)
            return (rule.reply or "").replace("{user}", user).replace("{tool}", tool)
        return self.script.default


def _rule_call(spec: dict[str, Any]) -> ToolCall:
    args = spec.get("arguments", {})
    return ToolCall(name=spec["name"], arguments=args if isinstance(args, str) else json.dumps(args))


_NAMED: dict[str, Callable[[], ScriptedModel]] = {}


def register_scripted_model(
    name: str,
) -> Callable[[Callable[[], ScriptedModel]], Callable[[], ScriptedModel]]:
    """Register a factory so `load_model("scripted:NAME")` builds it."""

    def deco(factory: Callable[[], ScriptedModel]) -> Callable[[], ScriptedModel]:
        _NAMED[name] = factory
        return factory

    return deco


@register_scripted_model("echo")
def _echo() -> ScriptedModel:
    """Answers with the last user message."""
    return ScriptedModel(
        lambda msgs, tools: next((m.content or "" for m in reversed(msgs) if m.role == "user"), ""),
        name="scripted:echo",
    )


def load_script_file(path: str | Path) -> ScriptFile:
    """Read and validate a scripted-model file (YAML or JSON)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ModelSpecError(f"{p}: not valid YAML/JSON: {exc}") from exc
    try:
        return ScriptFile.model_validate(raw or {})
    except ValidationError as exc:
        raise ModelSpecError(f"{p}: invalid scripted-model file: {exc}") from exc


ENTRY_POINT_GROUP = "phalanx.scripted_models"
"""Packages advertise named scripted models here (name -> module that registers it), so
`scripted:NAME` works without the caller importing that module first, and without this
layer importing the layers above it."""


def _discover_named(target: str) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=target):
        ep.load()


@register_backend("scripted")
def _load_scripted(target: str) -> ScriptedModel:
    if target not in _NAMED and not Path(target).is_file():
        _discover_named(target)
    if target in _NAMED:
        return _NAMED[target]()
    path = Path(target)
    if path.is_file():
        return ScriptedModel(FileScript(load_script_file(path)), name=f"scripted:{path.name}")
    raise ModelSpecError(
        f"scripted model {target!r} is neither a file nor a registered name; "
        f"registered: {', '.join(sorted(_NAMED))}"
    )
