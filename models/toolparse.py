"""Best-effort parsing of tool calls written as text by models without a native tool API.

Chat templates that take `tools` (Hermes/Qwen-style and similar) ask the model to
answer with JSON objects such as `{"name": ..., "arguments": {...}}`, usually inside
`<tool_call>...</tool_call>` tags. This module finds such objects; anything it cannot
read is left as plain content so nothing the model said is lost.
"""

from __future__ import annotations

import json
import re
from typing import Any

from phalanx.models.types import ToolCall

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def _json_objects(text: str) -> list[tuple[int, int, Any]]:
    """Every top-level JSON value starting with `{` or `[` in `text`, with its span."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                i += 1
                continue
            found.append((i, end, value))
            i = end
        else:
            i += 1
    return found


def _as_call(value: Any, known: set[str] | None) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    fn: dict[str, Any] = value["function"] if isinstance(value.get("function"), dict) else value
    name = fn.get("name")
    if not isinstance(name, str) or (known is not None and name not in known):
        return None
    args = fn.get("arguments", fn.get("parameters", {}))
    return ToolCall(name=name, arguments=args if isinstance(args, str) else json.dumps(args))


def parse_tool_calls(text: str, tool_names: set[str] | None = None) -> tuple[str, list[ToolCall]]:
    """Split model text into remaining content and the tool calls it contains.

    Args:
        text: the decoded model output.
        tool_names: names of the offered tools; objects naming another tool are
            kept as content (None accepts any name).

    Returns:
        `(content, calls)`; content is the text with the parsed calls removed and
        stripped (empty when the model only called tools).
    """
    calls: list[ToolCall] = []
    spans: list[tuple[int, int]] = []
    tagged = list(_TAGGED.finditer(text))
    if tagged:
        for match in tagged:
            for _s, _e, value in _json_objects(match.group(1)):
                for item in value if isinstance(value, list) else [value]:
                    call = _as_call(item, tool_names)
                    if call is not None:
                        calls.append(call)
                        spans.append(match.span())
    else:
        for start, end, value in _json_objects(text):
            items = value if isinstance(value, list) else [value]
            parsed = [c for c in (_as_call(v, tool_names) for v in items) if c is not None]
            if parsed and len(parsed) == len(items):
                calls.extend(parsed)
                spans.append((start, end))
    if not calls:
        return text, []
    content, last = [], 0
    for start, end in sorted(set(spans)):
        content.append(text[last:start])
        last = end
    content.append(text[last:])
    return "".join(content).strip(), calls


def first_json_object(text: str) -> str | None:
    """The first JSON object in `text`, re-serialised, or None (for JSON mode)."""
    for _s, _e, value in _json_objects(text):
        if isinstance(value, dict):
            return json.dumps(value)
    return None
