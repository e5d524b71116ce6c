"""Loading APPS+ (JSONL, JSON) and the original APPS layout; malformed records name file, line, field."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import phalanx.agents.stepcoder
from phalanx.agents.stepcoder import DatasetError, default_data_path, load_problems
from phalanx.agents.stepcoder.data import infer_entry_point

GOOD = {
    "prompt": "def f(a):\n",
    "canonical_solution": "def f(a):\n    return a\n",
    "starter_code": "\ndef f(a):\n",
    "inputs": [[1]],
    "outputs": [[1]],
    "scope": [["Function Body", 1, 2]],
    "difficulty": "introductory",
}


def test_sample_loads_with_modes_and_entry_points(sample_path):
    problems = load_problems(sample_path)
    assert len(problems) == 300
    assert Counter(p.difficulty for p in problems) == {
        "introductory": 100,
        "interview": 100,
        "competition": 100,
    }
    assert Counter(p.io_mode for p in problems) == {"stdin": 217, "call": 83}
    for p in problems:
        assert p.fn_name and p.fn_name in p.canonical_solution
        assert len(p.inputs) == len(p.outputs) >= 1


def test_default_data_is_the_sample_shipped_in_the_package():
    """No path means the sample inside the installed package (with its licences), not a project folder."""
    path = default_data_path()
    assert path.is_relative_to(Path(phalanx.agents.stepcoder.__file__).resolve().parent)
    assert {"LICENSE", "LICENSE.APPS_Plus_MIT", "SOURCE.md"} <= {p.name for p in path.parent.iterdir()}
    assert [p.problem_id for p in load_problems(limit=3)] == [
        p.problem_id for p in load_problems(path, limit=3)
    ]


def test_entry_point_inference():
    assert infer_entry_point("\ndef FsxrN():\n") == ("FsxrN", False)
    assert infer_entry_point("\ndef productsum(n):\n") == ("productsum", True)
    assert infer_entry_point("\nclass Solution:\n    def maxUniqueSplit(self, s: str) -> int:\n") == (
        "maxUniqueSplit",
        True,
    )
    assert infer_entry_point("") == (None, False)


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("bad", "field", "why"),
    [
        ({k: v for k, v in GOOD.items() if k != "outputs"}, "outputs", "missing"),
        (dict(GOOD, inputs="[1]"), "inputs", "expected a list"),
        (dict(GOOD, outputs=[[1], [2]]), "outputs", "2 outputs for 1 inputs"),
        (dict(GOOD, difficulty="hard"), "difficulty", "expected one of"),
        (dict(GOOD, scope=[["If", 3, 2]]), "scope", "item 0"),
        (dict(GOOD, inputs=[1], outputs=[1]), "inputs", "must be a list"),
        (dict(GOOD, starter_code="\ndef g():\n", inputs=[1], outputs=["x"]), "inputs", "must be strings"),
        (dict(GOOD, io_mode="call", starter_code=""), "starter_code", "without a `def NAME"),
    ],
)
def test_malformed_record_names_file_line_and_field(tmp_path, bad, field, why):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, {**bad, "problem_id": "b"}])
    with pytest.raises(DatasetError) as err:
        load_problems(path)
    msg = str(err.value)
    assert f"{path}:2" in msg and f"field {field!r}" in msg and why in msg


def test_bad_json_line_and_other_file_errors(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, "{not json"])
    with pytest.raises(DatasetError, match=r"d\.jsonl:2: not valid JSON"):
        load_problems(path)
    with pytest.raises(DatasetError, match="no such file"):
        load_problems(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(DatasetError, match="unknown data format"):
        load_problems(tmp_path / "x.csv")
    dup = write_jsonl(tmp_path / "dup.jsonl", [GOOD | {"problem_id": 1}, GOOD | {"problem_id": 1}])
    with pytest.raises(DatasetError, match="duplicate problem id '1'"):
        load_problems(dup)


def test_json_list_release(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(
        json.dumps([GOOD, GOOD | {"starter_code": "\ndef g():\n", "inputs": ["1\n"], "outputs": ["1\n"]}])
    )
    a, b = load_problems(path)
    assert (a.io_mode, a.fn_name, a.problem_id) == ("call", "f", "0")
    assert (b.io_mode, b.fn_name, b.problem_id) == ("stdin", "g", "1")
    path.write_text(json.dumps([GOOD, {"inputs": []}]))
    with pytest.raises(DatasetError, match=r"record 1: field 'outputs': missing"):
        load_problems(path)


def test_original_apps_layout(tmp_path):
    call = tmp_path / "test" / "0001"
    call.mkdir(parents=True)
    (call / "input_output.json").write_text(
        json.dumps({"fn_name": "add", "inputs": [[1, 2]], "outputs": [[3]]})
    )
    (call / "solutions.json").write_text(json.dumps(["def add(a, b):\n    return a + b\n"]))
    (call / "metadata.json").write_text(json.dumps({"difficulty": "interview"}))
    (call / "question.txt").write_text("Add two numbers.")
    script = tmp_path / "test" / "0002"
    script.mkdir()
    (script / "input_output.json").write_text(json.dumps({"inputs": ["2\n"], "outputs": ["4\n"]}))
    (script / "solutions.json").write_text(json.dumps(["print(int(input()) * 2)\n"]))
    a, b = load_problems(tmp_path)
    assert (a.problem_id, a.io_mode, a.fn_name, a.difficulty, a.args_are_literals) == (
        "test/0001",
        "call",
        "add",
        "interview",
        False,
    )
    assert (b.io_mode, b.fn_name, b.canonical_solution) == ("stdin", None, "print(int(input()) * 2)\n")
    (script / "solutions.json").write_text('{"a": 1}')
    with pytest.raises(DatasetError, match="solutions.json: field 'solutions'"):
        load_problems(tmp_path)
    with pytest.raises(DatasetError, match="no APPS problem folders"):
        load_problems(call)
