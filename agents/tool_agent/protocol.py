"""The JSON text protocol for models without native tool calls.

The model answers every turn with ONE JSON object:

* `{"tool_calls": [{"name": "TOOL", "arguments": {...}}, ...]}` to call tools
  (several calls in one reply run in parallel), or
* `{"final_answer": "TEXT"}` to finish.

Tool results come back as user messages `Tool result [CALL_ID] TOOL: CONTENT`.
A reply that does not parse is answered with the parse error and the expected
shape (a bounded re-ask, see `ToolAgent.max_repairs`). The parser also accepts
common near-misses (a single `{"name", "arguments"}` object, `answer` for
`final_answer`, code fences, text around the object) because small models
produce them often and they are unambiguous.
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

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


@dataclass
class ParsedReply:
    """A model reply under the JSON protocol: tool calls or a final answer."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    final_answer: str | None = None


def protocol_system_prompt(tools: Sequence[dict[str, Any]], base: str | None = None) -> str:
    """System prompt describing the protocol and the tools (OpenAI specs)."""
    lines = []
    for spec in tools:
        fn = spec.get("function", spec)
        params = json.dumps(fn.get("parameters", {}), ensure_ascii=False, separators=(",", ":"))
        lines.append(f"- {fn['name']}: {fn.get('description', '')}\n  parameters: {params}")
    prompt = PROTOCOL_INSTRUCTIONS + ("\n".join(lines) if lines else "(none)")
    return f"{base.strip()}\n\n{prompt}" if base else prompt


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


def render_for_text_model(transcript: Sequence[Message]) -> list[Message]:
    """The transcript as a model without native tool support sees it (tool results as user turns)."""
    out: list[Message] = []
    for m in transcript:
        if m.role == "tool":
            out.append(Message.user(f"Tool result [{m.tool_call_id}] {m.name}: {m.content}"))
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
