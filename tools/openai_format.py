"""Import and export tools in the OpenAI function format (the format of the ToolSword data).

An imported tool is *declared*: it has a schema and a description but no Python
body. Give it one with `bind` (a real implementation), `simulate` (recorded
outputs, for replays) or leave it unbound (a call returns an error the model sees).
Export is lossless: the imported `parameters` dict is kept verbatim.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from phalanx.tools.errors import ToolDefinitionError
from phalanx.tools.schema import args_model_from_json_schema
from phalanx.tools.tool import Tool
from phalanx.tools.types import RiskAnnotations


def tool_from_openai(
    spec: Mapping[str, Any],
    *,
    implementation: Callable[..., Any] | None = None,
    simulated: Any = None,
    risk: RiskAnnotations | None = None,
    timeout_s: float | None = None,
) -> Tool:
    """Declare a tool from `{"type": "function", "function": {...}}` or a bare `{"name", ...}` spec.

    Args:
        spec: the OpenAI tool or function spec.
        implementation: bind this callable (called with the declared argument names).
        simulated: replay these outputs instead (see `Tool.simulate`); ignored when None.
        risk: risk annotations to attach.
        timeout_s: per-call time limit.

    Raises:
        ToolDefinitionError: the spec lacks a name, or its parameters are not an object schema.
    """
    if not isinstance(spec, Mapping):
        raise ToolDefinitionError(f"an OpenAI tool spec must be a dict, got {type(spec).__name__}")
    fn = spec.get("function") if spec.get("type") == "function" or "function" in spec else spec
    if not isinstance(fn, Mapping) or not fn.get("name"):
        raise ToolDefinitionError(f"OpenAI tool spec has no function name: {json.dumps(spec)[:200]}")
    name = str(fn["name"])
    parameters = copy.deepcopy(fn.get("parameters") or {"type": "object", "properties": {}})
    if not isinstance(parameters, dict):
        raise ToolDefinitionError(f"tool {name!r}: parameters must be a JSON schema object")
    model = args_model_from_json_schema(parameters, name)
    declared = Tool(
        name=name,
        description=str(fn.get("description") or ""),
        parameters=parameters,
        args_model=model,
        body=None,
        kind="unbound",
        risk=risk,
        timeout_s=timeout_s,
        by_alias=True,
    )
    if implementation is not None:
        return declared.bind(implementation)
    if simulated is not None:
        return declared.simulate(simulated)
    return declared


def tools_from_openai(
    specs: Iterable[Mapping[str, Any]],
    *,
    implementations: Mapping[str, Callable[..., Any]] | None = None,
    simulated: Mapping[str, Any] | None = None,
    risk: Mapping[str, RiskAnnotations] | None = None,
) -> list[Tool]:
    """Declare many tools; bind or simulate them by name (the rest stay unbound).

    Raises:
        ToolDefinitionError: a bad spec, a duplicate name, or a binding for a tool not in `specs`.
    """
    implementations = implementations or {}
    simulated = simulated or {}
    risk = risk or {}
    tools: list[Tool] = []
    seen: set[str] = set()
    for spec in specs:
        declared = tool_from_openai(spec)
        if declared.name in seen:
            raise ToolDefinitionError(f"duplicate tool name {declared.name!r} in the specs")
        seen.add(declared.name)
        if declared.name in risk:
            declared = declared.with_options(risk=risk[declared.name])
        if declared.name in implementations:
            declared = declared.bind(implementations[declared.name])
        elif declared.name in simulated:
            declared = declared.simulate(simulated[declared.name])
        tools.append(declared)
    stray = (set(implementations) | set(simulated)) - seen
    if stray:
        raise ToolDefinitionError(f"bindings given for tools not in the specs: {sorted(stray)}")
    return tools


def tools_to_openai(tools: Iterable[Tool], *, bare: bool = False) -> list[dict[str, Any]]:
    """Export tools as OpenAI tool specs (or bare function specs with `bare=True`)."""
    return [t.to_function_spec() if bare else t.to_openai() for t in tools]


def load_openai_tools(path: str | Path, **kwargs: Any) -> list[Tool]:
    """Declare the tools listed in a JSON file (a list of specs, or `{"tools": [...]}`)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ToolDefinitionError(f"{p}: cannot read tool specs: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("tools", [])
    if not isinstance(data, list):
        raise ToolDefinitionError(f"{p}: expected a list of tool specs or an object with a 'tools' list")
    return tools_from_openai(data, **kwargs)
