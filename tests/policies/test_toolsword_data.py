"""Scenario loader: validation errors name the file, record index and field, before any model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import phalanx.policies
from phalanx.policies import ScenarioDataError, load_scenario, load_toolsword, toolsword_data_dir

TOOL = {"name": "finish", "description": "Finish.", "parameters": {"type": "object", "properties": {}}}


def _write(tmp_path, name, records):
    (tmp_path / name).write_text(json.dumps(records))
    return tmp_path


def _ok(**over):
    rec = {"stage": "Input", "scenario": "MQ", "tools": [TOOL], "query": "hello"}
    rec.update(over)
    return rec


def test_valid_file(tmp_path):
    recs = load_scenario("MQ", _write(tmp_path, "data_MQ.json", [_ok(), _ok(query="second")]))
    assert [r.id for r in recs] == ["MQ-000", "MQ-001"] and recs[1].user_turn == "second"


@pytest.mark.parametrize(
    ("records", "needle"),
    [
        ([_ok(), {"stage": "Input", "scenario": "MQ", "tools": [TOOL]}], "record 1, field 'query': missing"),
        ([_ok(scenario="XX")], "record 0, field 'scenario': unknown scenario"),
        ([_ok(stage="Output")], "record 0, field 'stage'"),
        ([_ok(tools=[{"description": "no name"}])], "field 'tools[0].name'"),
        ([_ok(query=3)], "field 'query': must be a str"),
        (["not an object"], "record 0"),
    ],
)
def test_malformed_records(tmp_path, records, needle):
    data = _write(tmp_path, "data_MQ.json", records)
    with pytest.raises(ScenarioDataError) as err:
        load_scenario("MQ", data)
    assert needle in str(err.value) and "data_MQ.json" in str(err.value)


def test_output_stage_dialog_checked(tmp_path):
    rec = {
        "stage": "Output",
        "scenario": "HF",
        "tools": [TOOL],
        "query": "q",
        "dialog": [{"role": "user", "content": "q"}],
    }
    with pytest.raises(ScenarioDataError, match="record 0, field 'dialog'"):
        load_scenario("HF", _write(tmp_path, "data_HF.json", [rec]))


def test_bad_json_and_missing_file(tmp_path):
    (tmp_path / "data_NM.json").write_text('[{"stage": ')
    with pytest.raises(ScenarioDataError, match=r"data_NM.json:1: not valid JSON"):
        load_scenario("NM", tmp_path)
    with pytest.raises(ScenarioDataError, match="file not found"):
        load_scenario("RC", tmp_path)
    with pytest.raises(ScenarioDataError, match="unknown scenario"):
        load_toolsword(tmp_path, ["ZZ"])


def test_shipped_toolsword_data():
    """The loader's default is the copy shipped inside the package, with its licence and source note."""
    shipped = toolsword_data_dir()
    assert shipped.is_relative_to(Path(phalanx.policies.__file__).parent)
    assert "Apache License" in (shipped / "LICENSE").read_text()
    assert "Junjie-Ye/ToolSword" in (shipped / "SOURCE.md").read_text()
    recs = load_toolsword()
    groups = {}
    for r in recs:
        groups[r.group] = groups.get(r.group, 0) + 1
    assert groups == {
        "MQ": 55,
        "JA:Burple": 55,
        "JA:DeltaGPT": 55,
        "JA:GPT-4 Simulator": 55,
        "NM": 55,
        "RC": 55,
        "HF": 55,
        "EC": 55,
        "confict": 30,
    }
