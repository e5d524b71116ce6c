"""JSON schemas for tools: from Python signatures (pydantic) and back from JSON Schema.

`args_model_from_function` builds one pydantic model per tool from its type hints
and its Google-style docstring (`Args:` section gives the argument descriptions).
`args_model_from_json_schema` does the reverse for declared tools imported from
OpenAI function specs, so their calls are validated too.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from phalanx.tools.errors import ToolDefinitionError

_SKIP_PARAMS = {"self", "cls"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (summary, {argument: description})."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    sections = re.split(
        r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$", text, flags=re.M
    )
    summary = sections[0].strip()
    params: dict[str, str] = {}
    for i in range(1, len(sections) - 1, 2):
        if sections[i] not in {"Args", "Arguments", "Parameters"}:
            continue
        current: str | None = None
        for line in sections[i + 1].splitlines():
            m = re.match(r"^\s{0,8}(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", line)
            if m and (current is None or len(line) - len(line.lstrip()) <= _indent_of(sections[i + 1])):
                current = m.group(1).lstrip("*")
                params[current] = m.group(3).strip()
            elif current and line.strip():
                params[current] = (params[current] + " " + line.strip()).strip()
    return summary, params


def _indent_of(block: str) -> int:
    for line in block.splitlines():
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


def args_model_from_function(fn: Any, name: str, descriptions: dict[str, str]) -> type[BaseModel]:
    """A pydantic model of `fn`'s parameters (hints required; *args/**kwargs rejected).

    Raises:
        ToolDefinitionError: a parameter has no type hint or is variadic.
    """
    sig = inspect.signature(fn)
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot resolve type hints: {exc}") from exc
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname in _SKIP_PARAMS:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {name!r}: *args/**kwargs parameter {pname!r} cannot be described to a model"
            )
        if pname not in hints:
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {pname!r} needs a type hint so a schema can be built"
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        desc = descriptions.get(pname)
        fields[pname] = (hints[pname], Field(default, description=desc) if desc else Field(default))
    model_name = "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", name) if part) + "Args"
    try:
        return create_model(model_name or "ToolArgs", __config__=ConfigDict(extra="forbid"), **fields)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot build an argument model: {exc}") from exc


def parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAI `parameters` JSON schema of an args model (titles dropped, as models don't need them)."""
    schema = model.model_json_schema()
    _strip_titles(schema)
    schema.setdefault("properties", {})
    schema["required"] = list(schema.get("required", []))
    schema.pop("additionalProperties", None)
    return schema


def _strip_titles(node: Any) -> None:
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str) and (
            "type" in node
            or "$ref" in node
            or "anyOf" in node
            or "enum" in node
            or "properties" in node
            or "allOf" in node
        ):
            node.pop("title")
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    _strip_titles(prop)
            else:
                _strip_titles(value)
    elif isinstance(node, list):
        for item in node:
            _strip_titles(item)


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}


def _annotation_for(schema: dict[str, Any], where: str, defs: dict[str, Any], depth: int = 0) -> Any:
    if depth > 20:
        return Any
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return _annotation_for(defs.get(ref, {}), where, defs, depth + 1)
    if "enum" in schema and schema["enum"]:
        return Literal[tuple(schema["enum"])]
    if "const" in schema:
        return Literal[schema["const"]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_annotation_for(s, where, defs, depth + 1) for s in schema[key]]
            out = options[0]
            for opt in options[1:]:
                out = out | opt
            return out
    typ = schema.get("type")
    if isinstance(typ, list):
        options = [_annotation_for({**schema, "type": t}, where, defs, depth + 1) for t in typ]
        out = options[0]
        for opt in options[1:]:
            out = out | opt
        return out
    if typ == "array":
        items = schema.get("items")
        if isinstance(items, dict):
            return list[_annotation_for(items, where, defs, depth + 1)]  # type: ignore[misc]  # built at run time
        return list[Any]
    if typ == "object":
        if schema.get("properties"):
            return args_model_from_json_schema(schema, f"{where}_obj", defs=defs, extra="allow")
        return dict[str, Any]
    return _JSON_TYPES.get(typ, Any) if isinstance(typ, str) else Any


def args_model_from_json_schema(
    schema: dict[str, Any],
    name: str,
    *,
    defs: dict[str, Any] | None = None,
    extra: Literal["allow", "forbid", "ignore"] = "forbid",
) -> type[BaseModel]:
    """A pydantic model validating arguments against an OpenAI `parameters` schema.

    Declared tools come from many sources with loose typing (ToolSword declares
    numbers as strings), so numbers are accepted where strings are declared.
    """
    if schema.get("type", "object") != "object":
        raise ToolDefinitionError(
            f"tool {name!r}: parameters must be a JSON object schema, got type {schema.get('type')!r}"
        )
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for pname, pschema in (schema.get("properties") or {}).items():
        if not isinstance(pschema, dict):
            raise ToolDefinitionError(f"tool {name!r}: property {pname!r} schema must be an object")
        ann = _annotation_for(pschema, f"{name}_{pname}", defs)
        desc = pschema.get("description")
        if pname in required:
            fields[_safe(pname)] = (ann, Field(..., alias=pname, description=desc))
        else:
            fields[_safe(pname)] = (ann | None, Field(pschema.get("default"), alias=pname, description=desc))
    config = ConfigDict(extra=extra, coerce_numbers_to_str=True, populate_by_name=True)
    model_name = re.sub(r"\W", "_", name) or "Args"
    try:
        return create_model(model_name, __config__=config, **fields)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot build a validator from its schema: {exc}") from exc


def _safe(pname: str) -> str:
    # pydantic field names must be identifiers and must not shadow BaseModel attributes.
    safe = re.sub(r"\W", "_", pname)
    if not safe or safe[0].isdigit() or safe.startswith("_") or hasattr(BaseModel, safe):
        safe = "f_" + safe.lstrip("_")
    return safe


def describe_issues(exc: ValidationError) -> list[dict[str, Any]]:
    """One dict per validation problem: `argument` (dotted path), `expected`, `got`."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        got = err.get("input")
        if err.get("type") == "missing":
            got_text = "(missing)"
        else:
            got_text = repr(got)
            if len(got_text) > 80:
                got_text = got_text[:77] + "..."
        issues.append({"argument": loc, "expected": err.get("msg", "valid value"), "got": got_text})
    return issues
