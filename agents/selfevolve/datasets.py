"""Loading benchmark instances: phalanx JSONL, GSM8K, StrategyQA, CLUTRR and BoolQ layouts, embedded sets.

Layouts (one JSON object per line; `auto` picks by the fields present). The mappings follow the
official Self-Evolving Benchmark's `get_problem` (gen_dataset.py):

| layout | fields read | mapping |
|---|---|---|
| `phalanx` | `id`?, `context`?, `question`, `answer`, `task`? | as is (id defaults to `<file stem>-<line>`) |
| `gsm8k` | `question`, `answer` (`... #### 42`) | split on `". "` as the official code does: context = every piece but the last, joined and ended with `.`, question = the last piece (a decimal such as `$1.50` stays whole); answer = the number after `####` without commas; task `arithmetic` |
| `strategyqa` | `qid`?, `question`, `answer` (bool) | question only (commonsense: the gold `facts` and `decomposition` are never shown); answer `yes`/`no`; task `commonsense` |
| `clutrr` | `id`?, `context`/`story`, `question`/`query`, `answer`/`target`, `proof_state`? ... | context with newlines as spaces; task `kinship` |
| `boolq` | `question`, `answer` (bool), `passage` (or `context`), `title`? | context = passage; question capitalised with a `?`; answer `yes`/`no`; task `boolean` (reading comprehension) |

`auto` reads a record with CLUTRR's own fields (`proof_state`, `clean_story`, `task_name`,
`f_comb`, ...) as `clutrr`, one with a bool answer and no passage as `strategyqa`.

A malformed line raises `DatasetError` naming the file, the line number and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from phalanx.agents.selfevolve.embedded import EMBEDDED, load_embedded
from phalanx.agents.selfevolve.types import Instance

Layout = Literal["auto", "phalanx", "gsm8k", "strategyqa", "clutrr", "boolq"]
LAYOUTS: tuple[str, ...] = ("auto", "phalanx", "gsm8k", "strategyqa", "clutrr", "boolq")
CLUTRR_FIELDS = ("proof_state", "clean_story", "task_name", "f_comb", "task_level", "story", "target")
"""Fields only CLUTRR records carry (any one of them selects the `clutrr` layout under `auto`)."""


class DatasetError(ValueError):
    """A dataset file or line cannot be read; the message names the file, line and field."""


def _detect(record: dict[str, Any]) -> str:
    if any(f in record for f in CLUTRR_FIELDS) and "task" not in record:
        return "clutrr"
    if "passage" in record or ("context" in record and isinstance(record.get("answer"), bool)):
        return "boolq"  # BoolQ's own files name the passage `passage`, the official copy `context`
    if "context" in record:
        return "phalanx"
    if isinstance(record.get("answer"), bool):
        return "strategyqa"
    if isinstance(record.get("answer"), str) and "####" in record["answer"] and "context" not in record:
        return "gsm8k"
    return "phalanx"


def _require(record: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in record:
        raise DatasetError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind):
        want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise DatasetError(f"{where}: field {name!r} must be {want}, got {type(value).__name__}")
    return value


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def map_record(record: dict[str, Any], layout: str, default_id: str, where: str) -> Instance:
    """Map one parsed JSON record of `layout` to an `Instance` (see the module docstring)."""
    if layout == "auto":
        layout = _detect(record)
    rid = str(record.get("id", record.get("qid", default_id)))
    if layout == "phalanx":
        answer = _require(record, "answer", (str, int, float, bool), where)
        if isinstance(answer, bool):
            answer = _yes_no(answer)
        return Instance(
            id=rid,
            context=str(record.get("context", "") or ""),
            question=_require(record, "question", str, where),
            answer=str(answer),
            task=str(record.get("task", "generic")),
        )
    if layout == "gsm8k":
        text = _require(record, "question", str, where).strip()
        raw = _require(record, "answer", str, where)
        if "####" not in raw:
            raise DatasetError(f"{where}: field 'answer' has no '#### <number>' final answer (GSM8K layout)")
        answer = raw.rsplit("####", 1)[1].strip().replace(",", "")
        context, question = split_gsm8k(text)
        return Instance(id=rid, context=context, question=question, answer=answer, task="arithmetic")
    if layout == "strategyqa":
        # The official setting is commonsense from the question alone: the gold facts are not shown.
        return Instance(
            id=rid,
            context="",
            question=_require(record, "question", str, where),
            answer=_yes_no(_require(record, "answer", bool, where)),
            task="commonsense",
        )
    if layout == "clutrr":
        fields = {}
        for name, alias in (("context", "story"), ("question", "query"), ("answer", "target")):
            value = record.get(name, record.get(alias))
            if not isinstance(value, str) or not value.strip():
                raise DatasetError(
                    f"{where}: missing field {name!r} (CLUTRR layout: {name} or {alias}, a string)"
                )
            fields[name] = value.strip()
        return Instance(
            id=rid,
            context=fields["context"].replace("\n", " ").strip(),
            question=fields["question"],
            answer=fields["answer"],
            task="kinship",
        )
    if layout == "boolq":
        q = _require(record, "question", str, where).strip()
        q = q[:1].upper() + q[1:]
        if not q.endswith("?"):
            q += "?"
        return Instance(
            id=rid,
            context=_require(record, "passage" if "passage" in record else "context", str, where),
            question=q,
            answer=_yes_no(_require(record, "answer", bool, where)),
            task="boolean",
        )
    raise DatasetError(f"{where}: unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")


def split_gsm8k(text: str) -> tuple[str, str]:
    """(context, question) of a GSM8K problem, split on `". "` as the official code does.

    The official `get_problem` keeps a lone `"."` as the context of a one-sentence problem;
    phalanx leaves the context empty there.
    """
    pieces = text.strip().split(". ")
    context = ". ".join(pieces[:-1]).strip()
    return (context + "." if context else ""), pieces[-1].strip()


def read_jsonl(path: str | Path, layout: Layout = "auto") -> list[Instance]:
    """Read instances from a JSONL file.

    Raises:
        DatasetError: the file is missing, a line is not a JSON object, a field is missing or
            of the wrong type, or two lines share an id.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(
            f"{p}: no such dataset file (give a .jsonl path or embedded:kinship / embedded:arithmetic)"
        )
    out: list[Instance] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
        inst = map_record(record, layout, f"{p.stem}-{lineno}", where)
        if inst.id in seen:
            raise DatasetError(
                f"{where}: field 'id' {inst.id!r} repeats line {seen[inst.id]}; ids must be unique"
            )
        seen[inst.id] = lineno
        out.append(inst)
    if not out:
        raise DatasetError(f"{p}: no instances (the file is empty)")
    return out


def load_instances(source: str | Path, layout: Layout = "auto", limit: int | None = None) -> list[Instance]:
    """Load a dataset from a JSONL path or `embedded:NAME`, keeping at most `limit` instances."""
    text = str(source)
    if text.startswith("embedded:"):
        name = text.split(":", 1)[1]
        if name not in EMBEDDED:
            raise DatasetError(
                f"unknown embedded dataset {name!r}; choose from {', '.join(sorted(EMBEDDED))}"
            )
        items = load_embedded(name, n=max(limit or 0, 240))
    else:
        items = read_jsonl(source, layout)
    return items[:limit] if limit else items


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Write pydantic models or dicts as JSONL."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r.model_dump_json() if hasattr(r, "model_dump_json") else json.dumps(r)) + "\n")
