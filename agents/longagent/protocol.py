"""The JSON message protocol between leader and members, and its prompt templates.

Leader replies `{"type": "instruction" | "answer", "content": ...}`, members reply
`{"type": "response", "content": ...}` (methods.md Part A, LongAgent 3). Each call
asks for the reply's JSON schema, so a backend with constrained decoding can only
answer in shape. Replies are validated with pydantic; a malformed reply, or one whose
content only echoes a placeholder of the prompt (`<the final answer>`), is re-asked a
bounded number of times (the official code re-asks until valid, which can loop forever
on a weak model) and then reported as invalid instead of crashing the team.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any, Literal, TypeVar

import jinja2
from pydantic import BaseModel, ValidationError, field_validator

from phalanx.agents.tool_agent.protocol import is_placeholder
from phalanx.models import ChatModel, GenerationConfig, JsonMode, Message
from phalanx.models.grammar import pydantic_schema

T = TypeVar("T", bound=BaseModel)

PROMPT_VERSION = "v1"
"""Version of the prompt templates in `prompts/<version>/` (package data)."""

DOCUMENT_PLACEHOLDER = "The specific document content is omitted here."
"""Replaces a member's older copies of its chunk from round 2 on (official code)."""


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


class LeaderReply(BaseModel):
    """What the leader says: an instruction for every member, or the final answer."""

    type: Literal["instruction", "answer"]
    content: str

    _coerce = field_validator("content", mode="before")(_as_text)


class MemberReply(BaseModel):
    """What a member says about its own chunk."""

    type: Literal["response"]
    content: str

    _coerce = field_validator("content", mode="before")(_as_text)


class FinalLeaderReply(LeaderReply):
    """The leader's reply to the last-round prompt: it must be an answer."""

    type: Literal["answer"]


_SHAPES = {
    FinalLeaderReply: '{"type": "answer", "content": "..."}',
    LeaderReply: '{"type": "instruction" | "answer", "content": "..."}',
    MemberReply: '{"type": "response", "content": "..."}',
}


def _shape(schema: type[BaseModel]) -> str:
    for base in schema.__mro__:
        if base in _SHAPES:
            return _SHAPES[base]
    return f"a JSON object matching {schema.__name__}"


@cache
def _env(version: str) -> jinja2.Environment:
    root = resources.files("phalanx.agents.longagent") / "prompts" / version
    if not root.is_dir():
        raise ValueError(f"unknown LongAgent prompt version {version!r}; shipped: {PROMPT_VERSION}")
    templates = {p.name: p.read_text() for p in root.iterdir() if p.name.endswith(".j2")}
    return jinja2.Environment(
        loader=jinja2.DictLoader(templates), undefined=jinja2.StrictUndefined, keep_trailing_newline=False
    )


def render(name: str, version: str = PROMPT_VERSION, **values: Any) -> str:
    """Render prompt template `name` (without `.j2`) of the given version."""
    return _env(version).get_template(f"{name}.j2").render(**values).strip()


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json_candidates(text: str) -> list[str]:
    """Plausible JSON objects in a reply: the whole text, fenced blocks, and brace spans."""
    out = [text.strip()]
    out += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = text.find("{")
    while start != -1:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    out.append(text[start : i + 1])
                    break
        start = text.find("{", start + 1)
    return out


def parse_reply(text: str | None, schema: type[T]) -> T:
    """Parse the first JSON object in `text` that validates as `schema`.

    Raises:
        ValueError: no candidate validates; the message says what was expected.
    """
    if not text or not text.strip():
        raise ValueError(f"empty reply; expected {_shape(schema)}")
    last_error = "no JSON object found"
    for cand in _json_candidates(text):
        try:
            data = json.loads(cand)
        except json.JSONDecodeError as exc:
            last_error = f"not JSON ({exc.msg})"
            continue
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            # The official code accepts any type *containing* the keyword ("final answer").
            for keyword in ("instruction", "answer", "response"):
                if keyword in data["type"].lower():
                    data = {**data, "type": keyword}
                    break
        try:
            reply = schema.model_validate(data)
        except ValidationError as exc:
            last_error = f"wrong shape ({exc.errors()[0]['msg']})"
            continue
        content = getattr(reply, "content", None)
        if isinstance(content, str) and (is_placeholder(content) or not content.strip()):
            last_error = f"the content {content!r} is a placeholder of the instructions, not an answer"
            continue
        return reply
    raise ValueError(f"{last_error}; expected {_shape(schema)}")


class Exchange(BaseModel):
    """One protocol exchange: the reply (if any valid one came), every raw attempt, the error."""

    reply: dict[str, Any] | None
    raw: list[str]
    error: str | None = None
    prompt_tokens: list[int] = []
    """Prompt tokens of each attempt, as the backend reported them (0 when it does not)."""

    @property
    def ok(self) -> bool:
        return self.reply is not None


_HEADER = re.compile(r'^\{\s*"type"\s*:\s*"([A-Za-z_]+)"')


def _protocol_type(text: str) -> str | None:
    """The `type` a reply declares when it opens as a protocol object (`{"type": "...", ...`), else None.

    Read from the opening alone, so a reply cut at the token limit still counts.
    """
    match = _HEADER.match(text.strip())
    return match.group(1) if match else None


def fixed_type(schema: type[BaseModel]) -> str | None:
    """The `type` a reply of `schema` always has (members: `response`), or None when it varies."""
    field = schema.model_fields.get("type")
    args: tuple[Any, ...] = tuple(getattr(field.annotation, "__args__", ())) if field is not None else ()
    only = args[0] if len(args) == 1 else None
    return only if isinstance(only, str) else None


async def ask_text(
    model: ChatModel,
    messages: Sequence[Message],
    schema: type[BaseModel],
    *,
    max_reasks: int = 2,
    config: GenerationConfig | None = None,
    version: str = PROMPT_VERSION,
) -> Exchange:
    """Ask for a reply of `schema` whose only free part is its content, as plain text.

    The reply's type is fixed by the schema (a member's `response`, the leader's last
    `answer`), so the model writes only the content, in prose, and phalanx builds the
    JSON object. A small model writes the content of a JSON string worse than the same
    content as prose (measured on SmolLM2-135M: it answers a needle question correctly in
    prose and drops the number inside `{"content": ...}`; Tam et al. 2024, "Let Me Speak
    Freely?", report the same for format restrictions). A reply that is JSON of the schema
    anyway is taken as it is; an empty reply or a placeholder echo is re-asked.
    """
    kind = fixed_type(schema)
    if kind is None:
        raise ValueError(f"{schema.__name__} has no fixed type; ask it as JSON")

    def read(text: str) -> dict[str, Any]:
        text = text.strip()
        if text.startswith("{"):
            try:
                return parse_reply(text, schema).model_dump()
            except ValueError:
                pass  # prose that happens to start with a brace, or a message of another type
            other = _protocol_type(text)
            if other is not None and other != kind:
                # A leader asked for its last answer that writes one more instruction (copying its
                # earlier JSON turns) has not answered: re-ask, never pass the echo on as the answer.
                raise ValueError(f"the reply is an {other!r} message; this turn takes a plain-text {kind}")
        if not text or is_placeholder(text):
            raise ValueError(
                "empty reply" if not text else f"the reply {text!r} is a placeholder, not an answer"
            )
        return {"type": kind, "content": text}

    return await _ask_until_valid(
        model,
        messages,
        read,
        lambda error: render("reask_text", version, error=error),
        False,
        max_reasks,
        config,
    )


async def _ask_until_valid(
    model: ChatModel,
    messages: Sequence[Message],
    read: Callable[[str], dict[str, Any]],
    reask: Callable[[str], str],
    json_mode: JsonMode,
    max_reasks: int,
    config: GenerationConfig | None,
) -> Exchange:
    """Ask, `read` the reply (ValueError: unusable, say why), re-ask with `reask(error)`, bounded."""
    convo = list(messages)
    raw: list[str] = []
    tokens: list[int] = []
    error = None
    for _ in range(max_reasks + 1):
        response = await model.chat(convo, config=config, json_mode=json_mode)
        text = response.message.content or ""
        raw.append(text)
        tokens.append(response.usage.prompt_tokens)
        try:
            return Exchange(reply=read(text), raw=raw, prompt_tokens=tokens)
        except ValueError as exc:
            error = str(exc)
        convo += [Message.assistant(text), Message.user(reask(error))]
    return Exchange(reply=None, raw=raw, error=error, prompt_tokens=tokens)


async def ask_json(
    model: ChatModel,
    messages: Sequence[Message],
    schema: type[BaseModel],
    *,
    max_reasks: int = 2,
    config: GenerationConfig | None = None,
    version: str = PROMPT_VERSION,
) -> Exchange:
    """Ask `model` and validate its reply as `schema`, re-asking at most `max_reasks` times.

    Never raises on bad output: an `Exchange` with `reply=None` and the last error
    comes back, so the team can carry on and report it.
    """
    return await _ask_until_valid(
        model,
        messages,
        lambda text: parse_reply(text, schema).model_dump(),
        lambda error: render("reask", version, error=error, shape=_shape(schema)),
        pydantic_schema(schema),
        max_reasks,
        config,
    )
