"""Reading prompt and record files: the format is decided once per file, never line by line.

Every command that reads prompts or records (`phalanx policies screen`, the harm-index corpora,
APPS+ data, ToolSword scenarios, audit logs) goes through `iter_records` / `read_prompts`, so one
rule holds everywhere: the format comes from `--format` or the file's extension (`.jsonl`/`.ndjson`,
`.json`, `.csv`, anything else is plain text, one entry per line). A plain-text prompt that happens
to start with `{` is a prompt, not a broken JSON line. Errors name the file and line (or record).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

RecordFormat = Literal["text", "jsonl", "json", "csv"]
FORMATS: tuple[RecordFormat, ...] = ("text", "jsonl", "json", "csv")
_BY_SUFFIX: dict[str, RecordFormat] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
PROMPT_COLUMNS = ("prompt", "query", "goal", "question", "text")
"""Columns (CSV) or fields (JSON) taken as the prompt when none is named, in this order."""


class RecordFileError(ValueError):
    """A prompt or record file is missing or malformed; the message names the file and line."""


class FileRecord(NamedTuple):
    """One entry of a file: where it is (`file:line` or `file: record N`) and its value."""

    where: str
    value: Any
    """text: the stripped line; jsonl/json: the decoded value; csv: the row as a dict."""
    key: str | None = None
    """The entry's id when a JSON file maps ids to records."""


class Prompt(NamedTuple):
    """One prompt of a prompt file."""

    text: str
    where: str
    record: dict[str, Any]
    """The whole row or object it came from (empty for plain-text files)."""


def file_format(path: str | Path, format: str | None = None) -> RecordFormat:
    """The format of `path`: `format` when given, else by extension (unknown extensions are text).

    Raises:
        RecordFileError: `format` is not one of `FORMATS`.
    """
    if format is not None:
        if format not in FORMATS:
            raise RecordFileError(f"unknown file format {format!r}; use one of {', '.join(FORMATS)}")
        return cast(RecordFormat, format)
    return _BY_SUFFIX.get(Path(path).suffix.lower(), "text")


def iter_records(path: str | Path, format: str | None = None) -> Iterator[FileRecord]:
    """Yield the entries of a text, JSONL, JSON or CSV file (streamed line by line where it can be).

    Blank lines are skipped. A JSON file holds a list of records, or an object mapping ids to
    records (each then comes with its `key`).

    Raises:
        RecordFileError: no such file, or an entry that cannot be decoded (file and line named).
    """
    p = Path(path)
    kind = file_format(p, format)
    if not p.is_file():
        raise RecordFileError(f"{p}: no such file")
    try:
        # utf-8-sig: files saved by spreadsheet programs start with a byte-order mark.
        with p.open(encoding="utf-8-sig", newline="" if kind == "csv" else None) as fh:
            if kind == "csv":
                yield from _csv_records(p, fh)
            elif kind == "json":
                yield from _json_records(p, fh.read())
            else:
                yield from _line_records(p, fh, kind)
    except UnicodeDecodeError as exc:
        raise RecordFileError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise RecordFileError(f"{p}: cannot read ({exc.strerror})") from None


def _line_records(p: Path, lines: Iterable[str], kind: RecordFormat) -> Iterator[FileRecord]:
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if kind == "text":
            yield FileRecord(f"{p}:{lineno}", line.strip())
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordFileError(
                f"{p}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); a JSONL file holds "
                "one JSON value per line (give --format text if these are plain lines)"
            ) from None
        yield FileRecord(f"{p}:{lineno}", value)


def _json_records(p: Path, text: str) -> Iterator[FileRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordFileError(f"{p}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(data, dict):
        for key, value in data.items():
            yield FileRecord(f"{p}: record {key!r}", value, key)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield FileRecord(f"{p}: record {i}", value)
    else:
        raise RecordFileError(f"{p}: a JSON record file holds a list or an object, not {type(data).__name__}")


def _csv_records(p: Path, fh: Iterable[str]) -> Iterator[FileRecord]:
    reader = csv.DictReader(fh)
    start = 2  # the header is line 1; a quoted field may span lines, so each row starts after the last
    try:
        for row in reader:
            if None in row:
                raise RecordFileError(f"{p}:{start}: more fields than the header has columns")
            yield FileRecord(f"{p}:{start}", row)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RecordFileError(f"{p}:{reader.line_num}: not valid CSV ({exc})") from None
    if reader.fieldnames is None:
        raise RecordFileError(f"{p}: empty CSV file (expected a header row naming the columns)")


def read_prompts(
    path: str | Path,
    *,
    format: str | None = None,
    column: str | None = None,
    columns: Sequence[str] = PROMPT_COLUMNS,
) -> list[Prompt]:
    """The prompts of a file: each line of a text file (stripped), or one column/field of each CSV row or
    JSON object (as is), or each string of a JSONL/JSON file.

    Args:
        path: the file.
        format: `text`, `jsonl`, `json` or `csv`; None decides by extension (`file_format`).
        column: the CSV column / JSON field holding the prompt; None takes the first of `columns`
            that the file's first record has (a JSON list may also hold plain strings).
        columns: candidate names when `column` is None.

    Raises:
        RecordFileError: no prompts, no such column (the columns there are listed), an entry that is
            not text; every message names the file and line.
    """
    chosen = column
    out: list[Prompt] = []
    for where, value, _ in iter_records(path, format):
        if isinstance(value, str):
            text, record = value, {}
        elif isinstance(value, dict):
            if chosen is None:
                chosen = next((c for c in columns if c in value), None)
                if chosen is None:
                    raise RecordFileError(
                        f"{where}: none of the columns {', '.join(columns)} is there (found "
                        f"{', '.join(map(str, value)) or 'none'}); name the one to read with --column"
                    )
            if chosen not in value:
                raise RecordFileError(
                    f"{where}: no {chosen!r} column; found {', '.join(map(str, value)) or 'none'}"
                )
            text, record = value[chosen], value
            if text is None:  # a CSV row shorter than its header
                raise RecordFileError(f"{where}: the row has no value for {chosen!r}")
            if not isinstance(text, str):
                raise RecordFileError(f"{where}: {chosen!r} must be a string, got {type(text).__name__}")
        else:
            raise RecordFileError(f"{where}: expected a string or an object, got {type(value).__name__}")
        if not text.strip():
            raise RecordFileError(f"{where}: the prompt is empty")
        out.append(Prompt(text, where, record))
    if not out:
        raise RecordFileError(f"{path}: holds no entries (every line or record is blank)")
    return out
