"""The one reader of prompt and record files: format decided once per file, errors by file and line."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.tools import RecordFileError, iter_records, read_prompts
from phalanx.tools.records import file_format

# Prompts as users write them: any text that is not blank (braces, quotes, commas, newlines...).
PROMPTS = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), min_size=1).filter(
        lambda t: t.strip()
    ),
    min_size=1,
    max_size=8,
)


def _write(kind: str, prompts: list[str]) -> Path:
    path = Path(tempfile.mkdtemp()) / f"prompts.{kind}"
    if kind == "csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "goal"])
            writer.writerows([i, p] for i, p in enumerate(prompts))
    elif kind == "jsonl":
        path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts), encoding="utf-8")
    else:
        path.write_text(json.dumps([{"question": p} for p in prompts]), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["csv", "jsonl", "json"])
@settings(max_examples=40, deadline=None)
@given(prompts=PROMPTS)
def test_structured_files_give_back_every_prompt_exactly(kind: str, prompts: list[str]) -> None:
    assert [p.text for p in read_prompts(_write(kind, prompts))] == prompts


@settings(max_examples=40, deadline=None)
@given(prompts=PROMPTS)
def test_text_files_are_one_stripped_prompt_per_non_blank_line(prompts: list[str]) -> None:
    lines = [line for p in prompts for line in p.splitlines() if line.strip()]
    path = Path(tempfile.mkdtemp()) / "prompts.txt"
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    assert [p.text for p in read_prompts(path)] == [line.strip() for line in lines]


def test_format_by_extension_or_explicit(tmp_path: Path) -> None:
    assert [file_format(f"x.{e}") for e in ("jsonl", "ndjson", "JSON", "csv", "txt", "tsv")] == [
        "jsonl",
        "jsonl",
        "json",
        "csv",
        "text",
        "text",
    ]
    assert file_format("x.jsonl", "text") == "text"
    with pytest.raises(RecordFileError, match="unknown file format 'xml'"):
        file_format("x.txt", "xml")


def test_where_names_the_line_each_csv_row_starts_on(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,prompt\n1,"two\nlines"\n2,next\n3,\n', encoding="utf-8")
    records = list(iter_records(path))
    assert [r.where.rsplit(":", 1)[1] for r in records] == ["2", "4", "5"]
    with pytest.raises(RecordFileError, match=r"p.csv:5: the prompt is empty"):
        read_prompts(path)


def test_json_maps_keep_their_keys_and_other_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"a": {"text": "x"}, "b": {"text": "y"}}')
    assert [(r.key, r.value["text"]) for r in iter_records(path)] == [("a", "x"), ("b", "y")]
    path.write_text("7")
    with pytest.raises(RecordFileError, match="m.json: a JSON record file holds a list or an object"):
        list(iter_records(path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.jsonl", '{"prompt": "a"}\n{"prompt": 3}\n', r"p.jsonl:2: 'prompt' must be a string, got int"),
        ("p.jsonl", '{"prompt": "a"}\n[1, 2]\n', r"p.jsonl:2: expected a string or an object, got list"),
        ("p.json", '[{"prompt": "a"},\n oops]', r"p.json:2: not valid JSON"),
        ("p.csv", "id,prompt\n1,a,extra\n", r"p.csv:2: more fields than the header has columns"),
        ("p.csv", "id,prompt\n1\n", r"p.csv:2: the row has no value for 'prompt'"),
        ("p.csv", "", r"p.csv: empty CSV file"),
        ("p.txt", "\n \n", r"p.txt: holds no entries"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RecordFileError, match=message):
        read_prompts(path)


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(RecordFileError, match=r"nope.txt: no such file"):
        read_prompts(tmp_path / "nope.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(RecordFileError, match=r"latin1.txt: not UTF-8 text"):
        read_prompts(bad)
