"""Schema generation from Python signatures and from JSON Schema (round trips, validation)."""

from __future__ import annotations

import enum
import json
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from phalanx.tools import ToolDefinitionError, Toolset, tool, tool_from_openai
from phalanx.tools.schema import parse_docstring


class Unit(enum.Enum):
    celsius = "C"
    fahrenheit = "F"


class Point(BaseModel):
    x: float
    y: float = 0.0


class Route(BaseModel):
    start: Point
    stops: list[Point]
    label: str | None = None


@tool(risk=["open_world"], timeout_s=5)
async def plan(
    route: Route, unit: Unit, mode: Literal["fast", "scenic"] = "fast", limit: int | None = None
) -> str:
    """Plan a route.

    Args:
        route: where to go, with stops.
        mode: how to drive;
            fast or scenic.
        limit: most stops to keep.
    """
    return f"{route.start.x}->{len(route.stops)} {unit.value} {mode} {limit}"


def _resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    return schema["$defs"][ref.rsplit("/", 1)[-1]] if ref else node


def test_nested_optional_literal_enum_schema() -> None:
    spec = plan.to_openai()
    assert spec["type"] == "function"
    fn = spec["function"]
    assert fn["name"] == "plan" and fn["description"] == "Plan a route."
    params = fn["parameters"]
    assert params["required"] == ["route", "unit"]
    props = params["properties"]
    assert props["route"]["description"] == "where to go, with stops."
    assert props["mode"]["description"] == "how to drive; fast or scenic."
    assert props["mode"]["enum"] == ["fast", "scenic"] and props["mode"]["default"] == "fast"
    assert _resolve(params, props["unit"])["enum"] == ["C", "F"]
    assert {"type": "null"} in props["limit"]["anyOf"]
    route = _resolve(params, props["route"])
    assert _resolve(params, route["properties"]["start"])["required"] == ["x"]
    assert route["properties"]["stops"]["type"] == "array"
    assert plan.risk.open_world and not plan.risk.destructive and plan.timeout_s == 5


async def test_nested_args_reach_body_as_models_and_errors_name_the_argument() -> None:
    ts = Toolset([plan])
    ok = await ts.call("plan", json.dumps({"route": {"start": {"x": 1}, "stops": [{"x": 2}]}, "unit": "F"}))
    assert ok.status == "ok" and ok.output == "1.0->1 F fast None"
    bad = await ts.call(
        "plan", {"route": {"start": {"x": "north"}, "stops": []}, "unit": "K", "mode": "slow"}
    )
    assert bad.status == "invalid_args"
    args = {i["argument"] for i in bad.issues}
    assert args == {"route.start.x", "unit", "mode"}
    assert "route.start.x" in bad.content and "Call it again" in bad.content
    missing = await ts.call("plan", "{}")
    assert {i["argument"] for i in missing.issues} == {"route", "unit"}
    assert all(i["got"] == "(missing)" for i in missing.issues)
    assert ts.stats.argument_errors == 2 and ts.stats.ok == 1


def test_definition_errors_are_clear() -> None:
    with pytest.raises(ToolDefinitionError, match="needs a type hint"):

        @tool
        def f(x):  # noqa: ANN001
            return x

    with pytest.raises(ToolDefinitionError, match=r"\*args"):

        @tool
        def g(*xs: int) -> int:
            return 0

    with pytest.raises(ToolDefinitionError, match="unknown risk flag"):
        tool(lambda: 1, name="h", risk=["explosive"])


def test_docstring_parser() -> None:
    summary, args = parse_docstring(
        """Do a thing.

        More text.

        Args:
            a (int): first
                and more.
            b: second.

        Returns:
            nothing: really.
        """
    )
    assert summary == "Do a thing.\n\nMore text."
    assert args == {"a": "first and more.", "b": "second."}


_PRIMITIVES = st.sampled_from(["string", "integer", "number", "boolean"])
_prop = st.one_of(
    st.builds(lambda t, d: {"type": t, "description": d}, _PRIMITIVES, st.text(max_size=20)),
    st.builds(
        lambda vals: {"type": "string", "enum": vals},
        st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True),
    ),
    st.builds(lambda t: {"type": "array", "items": {"type": t}}, _PRIMITIVES),
)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def _schemas(draw: st.DrawFn) -> dict:
    props = draw(st.dictionaries(_names, _prop, max_size=5))
    required = [n for n in props if draw(st.booleans())]
    return {"type": "object", "properties": props, "required": required}


def _valid_value(prop: dict, draw: st.DrawFn):
    if "enum" in prop:
        return draw(st.sampled_from(prop["enum"]))
    kind = prop["type"]
    if kind == "array":
        return draw(st.lists(_value_of(prop["items"]["type"]), max_size=3))
    return draw(_value_of(kind))


def _value_of(kind: str) -> st.SearchStrategy:
    return {
        "string": st.text(max_size=10),
        "integer": st.integers(-1000, 1000),
        "number": st.floats(-1e6, 1e6, allow_nan=False),
        "boolean": st.booleans(),
    }[kind]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_schemas(), data=st.data())
def test_imported_schemas_round_trip_and_validate(schema: dict, data: st.DataObject) -> None:
    spec = {"name": "t", "description": "d", "parameters": schema}
    declared = tool_from_openai(spec)
    assert declared.to_function_spec() == spec
    assert tool_from_openai(declared.to_openai()).to_openai() == declared.to_openai()
    args = {
        name: _valid_value(prop, data.draw)
        for name, prop in schema["properties"].items()
        if name in schema["required"] or data.draw(st.booleans())
    }
    validated = declared.args_model.model_validate(args)
    assert declared._kwargs(validated).keys() == args.keys()
    for name in schema["required"]:
        with pytest.raises(ValueError):
            declared.args_model.model_validate({k: v for k, v in args.items() if k != name})
