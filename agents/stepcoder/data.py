"""Loaders for APPS+ (JSONL sample, JSON release) and the original APPS folder layout.

APPS+ records (methods.md Part C §1): `prompt`, `canonical_solution`, `starter_code`,
`inputs`, `outputs`, `scope`, `difficulty`, and in the phalanx sample also `io_mode`
and `source_index`. The function name is not a field: it is the last `def` of the
starter code. Call-based problems have parameters (or `class Solution`); stdin
problems wrap the program in a zero-argument function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phalanx.agents.stepcoder.errors import DatasetError
from phalanx.agents.stepcoder.types import Problem
from phalanx.tools.records import RecordFileError, iter_records

SAMPLE_PATH = Path(__file__).with_name("apps_plus") / "sample.jsonl"
"""The 300-problem APPS+ sample shipped with phalanx (MIT / Apache-2.0, see `apps_plus/SOURCE.md`)."""

_DIFFICULTIES = {"introductory", "interview", "competition"}
_DEF_RE = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\((.*?)\)?\s*(?:->.*)?:?\s*$", re.M)


def default_data_path() -> Path:
    """The APPS+ sample shipped with phalanx (the default of every loader and command).

    Raises:
        DatasetError: the installation lacks the sample (a broken install); names the path.
    """
    if SAMPLE_PATH.is_file():
        return SAMPLE_PATH
    raise DatasetError(
        f"{SAMPLE_PATH}: the APPS+ sample shipped with phalanx is missing (broken install?); "
        "reinstall phalanx or pass a path to an APPS+ .jsonl/.json file or an APPS folder"
    )


def infer_entry_point(starter_code: str) -> tuple[str | None, bool]:
    """The function name of a starter code and whether it takes arguments.

    Returns:
        `(name, is_call_based)`: the last `def` in the starter code; a method of
        `class Solution` or a function with parameters is call-based.
    """
    matches = list(_DEF_RE.finditer(starter_code))
    if not matches:
        return None, False
    name, params = matches[-1].group(1), matches[-1].group(2) or ""
    names = [p.strip() for p in params.split(",") if p.strip()]
    if names and names[0].split(":")[0].strip() == "self":
        names = names[1:]
    return name, bool(names) or "class Solution" in starter_code


def load_problems(path: str | Path | None = None, *, limit: int | None = None) -> list[Problem]:
    """Load problems from an APPS+ `.jsonl`, an APPS+ `.json` list, or an APPS folder.

    Args:
        path: the data; None means the sample shipped with phalanx (`default_data_path`).
        limit: keep only the first `limit` problems.

    Raises:
        DatasetError: missing file, unreadable JSON, or a malformed record (file, line, field named).
    """
    p = Path(path) if path is not None else default_data_path()
    if not p.exists():
        raise DatasetError(f"{p}: no such file or folder; give an APPS+ .jsonl/.json file or an APPS folder")
    if p.is_dir():
        problems = list(_iter_apps_folder(p))
    elif p.suffix in (".jsonl", ".json"):
        problems = list(_iter_records(p))
    else:
        raise DatasetError(f"{p}: unknown data format (expected .jsonl, .json or an APPS folder)")
    if not problems:
        raise DatasetError(f"{p}: holds no problems")
    seen: set[str] = set()
    for prob in problems:
        if prob.problem_id in seen:
            raise DatasetError(f"{p}: duplicate problem id {prob.problem_id!r}")
        seen.add(prob.problem_id)
    return problems[:limit] if limit is not None else problems


def _iter_records(path: Path) -> Iterator[Problem]:
    """APPS+ records of a `.jsonl` file or a `.json` list (or `{id: record}` map, also seen in the wild)."""
    try:
        for i, (where, record, key) in enumerate(iter_records(path)):
            if key is not None and isinstance(record, dict):
                record = dict(record, problem_id=record.get("problem_id", key))
            yield problem_from_record(record, where=where, default_id=str(i))
    except RecordFileError as exc:
        raise DatasetError(str(exc)) from None


def problem_from_record(record: Any, *, where: str = "<record>", default_id: str = "0") -> Problem:
    """Validate one APPS+ record and build a `Problem`.

    Raises:
        DatasetError: a field is missing or has the wrong type; the message names `where` and the field.
    """

    def bad(field: str, why: str) -> DatasetError:
        return DatasetError(f"{where}: field {field!r}: {why}")

    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for field in ("inputs", "outputs"):
        if field not in record:
            raise bad(field, "missing")
        if not isinstance(record[field], list):
            raise bad(field, f"expected a list, got {type(record[field]).__name__}")
    if len(record["inputs"]) != len(record["outputs"]):
        raise bad("outputs", f"{len(record['outputs'])} outputs for {len(record['inputs'])} inputs")
    if not record["inputs"]:
        raise bad("inputs", "no unit tests")
    for field in ("prompt", "canonical_solution", "starter_code"):
        if field in record and not isinstance(record[field], str):
            raise bad(field, f"expected a string, got {type(record[field]).__name__}")
    starter = record.get("starter_code", "")
    fn_name, call_based = infer_entry_point(starter)
    if record.get("fn_name"):
        fn_name = str(record["fn_name"])
    io_mode = record.get("io_mode") or ("call" if call_based else "stdin")
    if io_mode not in ("stdin", "call"):
        raise bad("io_mode", f"expected 'stdin' or 'call', got {io_mode!r}")
    if io_mode == "call":
        if not fn_name:
            raise bad("starter_code", "call-based problem without a `def NAME(...)` to call")
        for i, args in enumerate(record["inputs"]):
            if not isinstance(args, list):
                raise bad(
                    "inputs", f"case {i}: call-based arguments must be a list, got {type(args).__name__}"
                )
    else:
        for field in ("inputs", "outputs"):
            for i, value in enumerate(record[field]):
                if not isinstance(value, str):
                    raise bad(
                        field, f"case {i}: stdin-mode values must be strings, got {type(value).__name__}"
                    )
    difficulty = record.get("difficulty", "unknown")
    if difficulty not in _DIFFICULTIES and difficulty != "unknown":
        raise bad("difficulty", f"expected one of {sorted(_DIFFICULTIES)}, got {difficulty!r}")
    scope = record.get("scope") or []
    if not isinstance(scope, list):
        raise bad("scope", "expected a list of [kind, start_line, end_line]")
    for i, item in enumerate(scope):
        ok = (
            isinstance(item, list | tuple)
            and len(item) == 3
            and isinstance(item[0], str)
            and all(isinstance(x, int) and x >= 1 for x in item[1:])
            and item[1] <= item[2]
        )
        if not ok:
            raise bad(
                "scope", f"item {i} {item!r} is not [kind, start_line, end_line] with 1 <= start <= end"
            )
    pid = record.get("problem_id", record.get("source_index", record.get("id", default_id)))
    return Problem(
        problem_id=str(pid),
        prompt=record.get("prompt", ""),
        canonical_solution=record.get("canonical_solution", ""),
        starter_code=starter,
        inputs=record["inputs"],
        outputs=record["outputs"],
        scope=[tuple(s) for s in scope],
        difficulty=difficulty,
        io_mode=io_mode,
        fn_name=fn_name,
        args_are_literals=bool(record.get("args_are_literals", True)),
    )


def _iter_apps_folder(root: Path) -> Iterator[Problem]:
    """Original APPS: `<split>/<NNNN>/{question.txt, input_output.json, solutions.json, metadata.json}`."""
    dirs = [d for d in (root / "train", root / "test") if d.is_dir()] or [root]
    found = False
    for split in dirs:
        for folder in sorted(d for d in split.iterdir() if d.is_dir()):
            io_file = folder / "input_output.json"
            if not io_file.is_file():
                continue
            found = True
            yield _apps_problem(folder, io_file, split.name if split is not root else "")
    if not found:
        raise DatasetError(
            f"{root}: no APPS problem folders (expected <split>/<NNNN>/input_output.json); "
            "for APPS+ give the .jsonl/.json file instead"
        )


def _apps_problem(folder: Path, io_file: Path, split: str) -> Problem:
    def read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None

    io = read_json(io_file)
    if not isinstance(io, dict):
        raise DatasetError(f"{io_file}: expected an object with 'inputs' and 'outputs'")
    meta = read_json(folder / "metadata.json") if (folder / "metadata.json").is_file() else {}
    solutions = read_json(folder / "solutions.json") if (folder / "solutions.json").is_file() else []
    if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
        raise DatasetError(f"{folder / 'solutions.json'}: field 'solutions': expected a list of strings")
    fn_name = io.get("fn_name")
    record = {
        "problem_id": f"{split}/{folder.name}" if split else folder.name,
        "prompt": (folder / "question.txt").read_text(encoding="utf-8")
        if (folder / "question.txt").is_file()
        else "",
        "canonical_solution": solutions[0] if solutions else "",
        "starter_code": (folder / "starter_code.py").read_text(encoding="utf-8")
        if (folder / "starter_code.py").is_file()
        else "",
        "inputs": io.get("inputs"),
        "outputs": io.get("outputs"),
        "difficulty": meta.get("difficulty", "unknown") if isinstance(meta, dict) else "unknown",
        "io_mode": "call" if fn_name else "stdin",
        "fn_name": fn_name,
        # APPS stores native argument values, not literal source; stdin programs are plain scripts.
        "args_are_literals": False,
    }
    problem = problem_from_record(record, where=str(io_file))
    if problem.io_mode == "stdin":
        problem.fn_name = None
    return problem
