"""The JSON text protocol for models without native tool calls.

The model answers every turn with ONE JSON object:

* `{"tool_calls": [{"name": "TOOL", "arguments": {...}}, ...]}` to call tools
  (several calls in one reply run in parallel), or
* `{"final_answer": "TEXT"}` to finish.

Tool results come back as user messages `Tool result [CALL_ID] TOOL: CONTENT`.
On backends with constrained decoding (`supports_json_schema`) the agent asks for
`protocol_schema(tools)`, so every reply is one of these objects with a known tool
name and arguments of that tool's schema. Elsewhere a reply that does not parse is
answered with the parse error and the expected shape (a bounded re-ask, see
`ToolAgent.max_repairs`), and a reply with no JSON at all is taken as the final
answer, as a plain chat reply would be. The parser also accepts common near-misses
(a single `{"name", "arguments"}` object, `answer` for `final_answer`, code fences,
text around the object) because small models produce them often and they are
unambiguous. An answer that only echoes a placeholder of the instructions
(`<your answer to the user>`, `...`) is never accepted (`is_placeholder`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from phalanx.models import Message, ModelOutputError, ToolCall

PROTOCOL_INSTRUCTIONS = """\
You can use tools. Answer EVERY turn with exactly one JSON object and nothing else.
To call tools: {"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}
(several calls in the list run in parallel; their results come back as messages starting "Tool result").
To finish: {"final_answer": "<your answer to the user>"}

Available tools:
"""

MAX_CALLS_PER_REPLY = 4
"""Most tool calls one constrained reply may hold."""

PLACEHOLDERS = ("<your answer to the user>", "<tool name>", "<arguments>", "<the final answer>", "...", "…")
"""Placeholders of phalanx's protocol prompts; an answer that is only one of them is an echo."""

_PLACEHOLDER = re.compile(r"^\s*(?:<[^<>\n]{1,80}>|\.{2,}|…+)\s*$")

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


@dataclass
class ParsedReply:
    """A model reply under the JSON protocol: tool calls or a final answer."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    final_answer: str | None = None


def protocol_system_prompt(tools: Sequence[dict[str, Any]], base: str | None = None) -> str:
    """System prompt describing the protocol and the tools (OpenAI specs), one line per tool.

    Each tool reads `- name(arg: type (what it is), opt?: type): description`, which costs
    a small model far fewer prompt tokens than the JSON schema (constrained backends
    enforce the schema itself); argument descriptions are cut at 80 characters.
    """
    lines = []
    for spec in tools:
        fn = spec.get("function", spec)
        lines.append(
            f"- {fn['name']}({_signature(fn.get('parameters') or {})}): {fn.get('description', '')}".rstrip()
        )
    prompt = PROTOCOL_INSTRUCTIONS + ("\n".join(lines) if lines else "(none)")
    return f"{base.strip()}\n\n{prompt}" if base else prompt


def _signature(params: dict[str, Any]) -> str:
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    parts = []
    for name, prop in props.items():
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        if isinstance(kind, list):
            kind = "|".join(str(k) for k in kind)
        about = prop.get("description", "") if isinstance(prop, dict) else ""
        about = " ".join(str(about).split())
        if len(about) > 80:
            about = about[:77].rstrip() + "..."
        parts.append(f"{name}{'' if name in required else '?'}: {kind}" + (f" ({about})" if about else ""))
    return ", ".join(parts)


_JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def argument_schema(params: Any, depth: int = 0) -> dict[str, Any]:
    """A tool's parameter schema reduced to what constrained decoding needs and can compile.

    Keeps types, properties, required, items, enum and const; drops descriptions,
    formats and anything unusual (tool schemas in the wild carry all sorts). Objects
    with declared properties accept no others, so a model cannot invent arguments.
    """
    if not isinstance(params, dict) or depth > 8:
        return {}
    out: dict[str, Any] = {}
    kind = params.get("type")
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k in _JSON_TYPES]
    if kinds:
        out["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in params and isinstance(params["enum"], list) and params["enum"]:
        out["enum"] = params["enum"]
    if "const" in params:
        out["const"] = params["const"]
    props = params.get("properties")
    if isinstance(props, dict) and (not kinds or "object" in kinds):
        out["properties"] = {str(k): argument_schema(v, depth + 1) for k, v in props.items()}
        required = [r for r in params.get("required") or [] if r in props]
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        out.setdefault("type", "object")
    if "items" in params and (not kinds or "array" in kinds):
        out["items"] = argument_schema(params["items"], depth + 1)
    return out


def protocol_schema(tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON schema of one protocol reply: tool calls of these tools, or a final answer."""
    calls = []
    for spec in tools:
        fn = spec.get("function", spec)
        args = argument_schema(fn.get("parameters") or {"type": "object"}) or {"type": "object"}
        if args.get("type") != "object":
            args = {"type": "object"}
        calls.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": args},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    final = FINAL_ANSWER_SCHEMA
    if not calls:
        return final
    call_list = {
        "type": "object",
        "properties": {
            "tool_calls": {
                "type": "array",
                "items": calls[0] if len(calls) == 1 else {"anyOf": calls},
                "minItems": 1,
                "maxItems": MAX_CALLS_PER_REPLY,
            }
        },
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    return {"anyOf": [call_list, final]}


def is_placeholder(text: str | None) -> bool:
    """True when `text` only echoes a placeholder (`<the final answer>`, `<answer here>`, `...`)."""
    if text is None:
        return False
    stripped = text.strip()
    return stripped in PLACEHOLDERS or bool(_PLACEHOLDER.match(stripped))


def has_json_object(text: str | None) -> bool:
    """True when `text` contains something that starts a JSON object."""
    return bool(text) and "{" in (text or "")


def parse_reply(text: str | None) -> ParsedReply:
    """Parse one reply under the JSON protocol.

    Raises:
        ModelOutputError: the reply is not one JSON object of an accepted shape; the
            message says exactly what is wrong (it is sent back to the model).
    """
    if not text or not text.strip():
        raise ModelOutputError("the reply was empty; expected one JSON object")
    body = _FENCE.sub("", text.strip())
    start = body.find("{")
    if start < 0:
        raise ModelOutputError(f"no JSON object found in the reply (it starts with {body[:40]!r})")
    try:
        obj, _ = json.JSONDecoder().raw_decode(body, start)
    except json.JSONDecodeError as exc:
        raise ModelOutputError(f"invalid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(obj, dict):
        raise ModelOutputError("the JSON value must be an object")
    for key in ("final_answer", "answer"):
        if key in obj:
            answer = obj[key]
            if not isinstance(answer, str):
                answer = json.dumps(answer, ensure_ascii=False)
            return ParsedReply(final_answer=answer)
    if "tool_calls" in obj:
        raw_calls = obj["tool_calls"]
        if not isinstance(raw_calls, list) or not raw_calls:
            raise ModelOutputError('"tool_calls" must be a non-empty list of {"name", "arguments"} objects')
    elif "name" in obj or "tool" in obj:
        raw_calls = [obj]
    else:
        raise ModelOutputError(
            f'the object has neither "tool_calls" nor "final_answer" (keys: {sorted(obj)[:8]})'
        )
    return ParsedReply(tool_calls=[_to_call(c, i) for i, c in enumerate(raw_calls)])


def _to_call(raw: Any, index: int) -> ToolCall:
    if not isinstance(raw, dict):
        raise ModelOutputError(f"tool_calls[{index}] must be an object with name and arguments")
    name = raw.get("name", raw.get("tool"))
    if not isinstance(name, str) or not name:
        raise ModelOutputError(f'tool_calls[{index}] needs a string "name"')
    args = raw.get("arguments", raw.get("args", {}))
    if isinstance(args, str):
        arguments = args  # the toolset reports it if it is not a JSON object
    elif isinstance(args, dict):
        arguments = json.dumps(args, ensure_ascii=False)
    else:
        raise ModelOutputError(f"tool_calls[{index}].arguments must be an object, got {type(args).__name__}")
    return ToolCall(name=name, arguments=arguments)


FINAL_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"final_answer": {"type": "string"}},
    "required": ["final_answer"],
    "additionalProperties": False,
}
"""The schema of a reply that can only be the final answer."""

AFTER_TOOLS = 'If these results answer the question, reply {"final_answer": "<your answer to the user>"}; otherwise call a tool.'
"""Appended to the latest tool results: small models otherwise keep calling tools."""
FINAL_TURN = 'Give your final answer now, as {"final_answer": "<your answer to the user>"}.'
"""Appended when only a final answer is accepted (the agent's last call, or after a repeated call)."""


def render_for_text_model(transcript: Sequence[Message], *, final_only: bool = False) -> list[Message]:
    """The transcript as a model without native tool support sees it (tool results as user turns).

    Consecutive tool results form one user turn; the latest one ends with `AFTER_TOOLS`
    (or `FINAL_TURN` when `final_only`).
    """
    out: list[Message] = []
    for m in transcript:
        if m.role == "tool":
            line = f"Tool result [{m.tool_call_id}] {m.name}: {m.content}"
            if out and out[-1].role == "user" and (out[-1].content or "").startswith("Tool result ["):
                out[-1] = Message.user(f"{out[-1].content}\n{line}")
            else:
                out.append(Message.user(line))
        elif m.role == "assistant" and m.tool_calls:
            content = m.content or json.dumps(
                {
                    "tool_calls": [
                        {"name": c.name, "arguments": _loads_or_text(c.arguments)} for c in m.tool_calls
                    ]
                }
            )
            out.append(Message.assistant(content))
        else:
            out.append(m)
    if out and out[-1].role == "user":
        if final_only:
            out[-1] = Message.user(f"{out[-1].content}\n\n{FINAL_TURN}")
        elif (out[-1].content or "").startswith("Tool result ["):
            out[-1] = Message.user(f"{out[-1].content}\n\n{AFTER_TOOLS}")
    return out


def _loads_or_text(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments


def repair_request(error: str) -> str:
    """The user turn that re-asks after a reply failed to parse."""
    return (
        f"Your last reply could not be used: {error}. Reply again with exactly one JSON object: "
        '{"tool_calls": [{"name": "...", "arguments": {...}}]} or {"final_answer": "..."}.'
    )
