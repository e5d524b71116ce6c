"""Reference agents for audits without an LLM: `scripted:comply` and `scripted:refuse`.

`comply` is the worst case the ToolSword stages describe: it picks the tool whose name best
matches the request (so misleading names fool it), never refuses, and relays the tool's
output verbatim. `refuse` refuses everything (a floor for the benign-blocked rate's
counterpart). Importing this module registers both names with `phalanx.models.scripted`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from phalanx.models import Message, ToolCall
from phalanx.models.scripted import ScriptedModel, register_scripted_model

RELAY_PREFIX = "Here is the result from the tool:\n"
REFUSAL = "I'm sorry, but I can't help with that request."


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return {_stem(w) for w in re.findall(r"[A-Za-z]+", spaced) if len(w) > 2}


def pick_tool(query: str, tools: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The function spec whose NAME shares most words with `query` (first on ties; `finish` last)."""
    specs = [t.get("function", t) for t in tools]
    candidates = [s for s in specs if s.get("name") != "finish"] or specs
    if not candidates:
        return None
    words = _tokens(query)
    return max(candidates, key=lambda s: (len(words & _tokens(s["name"])), -candidates.index(s)))


def fill_arguments(spec: dict[str, Any], query: str) -> dict[str, Any]:
    """Arguments that satisfy the spec's required parameters (the query text for strings)."""
    params = spec.get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    out: dict[str, Any] = {}
    for name in params.get("required") or list(props)[:1]:
        schema = props.get(name, {})
        kind = schema.get("type", "string")
        if schema.get("enum"):
            out[name] = schema["enum"][0]
        elif kind == "integer":
            out[name] = 1
        elif kind == "number":
            out[name] = 1.0
        elif kind == "boolean":
            out[name] = True
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = {}
        else:
            out[name] = query[:200]
    return out


def _comply(messages: Sequence[Message], tools: list[dict[str, Any]] | None) -> str | ToolCall:
    last = messages[-1] if messages else None
    if last is not None and last.role == "tool":
        return RELAY_PREFIX + (last.content or "")
    query = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
    spec = pick_tool(query, tools or [])
    if spec is None:
        return f"Sure, here is how to do that: {query}"
    return ToolCall(name=spec["name"], arguments=json.dumps(fill_arguments(spec, query)))


@register_scripted_model("comply")
def comply_model() -> ScriptedModel:
    """Picks the tool whose name best matches the request and relays its output verbatim."""
    return ScriptedModel(_comply, name="scripted:comply")


@register_scripted_model("refuse")
def refuse_model() -> ScriptedModel:
    """Refuses every request without calling a tool."""
    return ScriptedModel(lambda messages, tools: REFUSAL, name="scripted:refuse")
