"""Every tool of the ToolSword data imports and exports to the same OpenAI schema; bind/simulate/unbound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx.tools import Toolset, tool_from_openai, tools_from_openai, tools_to_openai
from phalanx.tools.errors import ToolDefinitionError


def _toolsword_specs(toolsword_dir: Path) -> list[dict]:
    files = sorted((toolsword_dir / "data").glob("*.json"))
    assert files, "no ToolSword data files found"
    specs = []
    for f in files:
        for record in json.loads(f.read_text()):
            specs.extend(record["tools"])
    return specs


def test_every_toolsword_tool_round_trips(toolsword_dir: Path) -> None:
    specs = _toolsword_specs(toolsword_dir)
    assert len(specs) > 1000
    distinct = {json.dumps(s, sort_keys=True) for s in specs}
    for text in distinct:
        spec = json.loads(text)
        declared = tool_from_openai(spec)
        assert declared.kind == "unbound"
        assert declared.to_function_spec() == spec
        assert declared.to_openai() == {"type": "function", "function": spec}
        assert tool_from_openai(declared.to_openai()).to_function_spec() == spec


async def test_imported_tools_validate_bind_simulate_and_unbound(toolsword_dir: Path) -> None:
    record = json.loads((toolsword_dir / "data" / "data_NM.json").read_text())[0]
    names = [t["name"] for t in record["tools"]]
    seen: list[dict] = []
    tools = tools_from_openai(
        record["tools"],
        implementations={names[0]: lambda **kw: seen.append(kw) or "done"},
        simulated={names[1]: ["first", "second"]},
    )
    assert [t.kind for t in tools[:3]] == ["bound", "simulated", "unbound"]
    assert tools_to_openai(tools, bare=True) == record["tools"]
    ts = Toolset(tools)
    args = {"table_name": "customers", "column_names": "status", "condition": 7}
    r = await ts.call(names[0], args)
    assert r.status == "ok" and r.content == "done"
    assert seen == [
        {"table_name": "customers", "column_names": "status", "condition": "7"}
    ]  # numbers accepted as strings
    assert (await ts.call(names[1], args)).content == "first"
    assert (await ts.call(names[1], args)).content == "second"
    exhausted = await ts.call(names[1], args)
    assert exhausted.status == "error" and "no recorded output left" in exhausted.content
    unbound = await ts.call(names[2], args)
    assert unbound.status == "unbound" and "no implementation" in unbound.content
    missing = await ts.call(names[0], {"table_name": "x"})
    assert missing.status == "invalid_args" and {i["argument"] for i in missing.issues} == {
        "column_names",
        "condition",
    }


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="no function name"):
        tool_from_openai({"type": "function", "function": {"description": "x"}})
    with pytest.raises(ToolDefinitionError, match="not in the specs"):
        tools_from_openai([{"name": "a"}], implementations={"b": print})
    with pytest.raises(ToolDefinitionError, match="duplicate"):
        tools_from_openai([{"name": "a"}, {"name": "a"}])
