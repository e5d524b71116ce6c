"""Screening a prompt set with the input-stage guards (`phalanx policies screen`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from phalanx.policies.errors import PolicyConfigError
from phalanx.policies.stack import PolicyStack


def read_queries(path: str | Path) -> list[str]:
    """One query per line, or JSONL with a `query` field (blank lines skipped).

    Raises:
        PolicyConfigError: a JSONL line without a string `query` (line number named).
    """
    p = Path(path)
    if not p.is_file():
        raise PolicyConfigError(f"{p}: no such file (one query per line, or JSONL with a 'query' field)")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PolicyConfigError(f"{p}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(data.get("query"), str):
                raise PolicyConfigError(f"{p}:{n}: JSONL line has no string 'query' field")
            out.append(data["query"])
        else:
            out.append(line.strip())
    return out


async def screen_queries(
    queries: Iterable[str], policy: str | PolicyStack = "default", stage: str = "input"
) -> AsyncIterator[dict[str, Any]]:
    """Yield `{"query", "blocked", "guard", "reason"}` per query (input stage, or output stage on text)."""
    stack = policy if isinstance(policy, PolicyStack) else PolicyStack(policy)
    for q in queries:
        if stage == "input":
            decision = await stack.screen_input(q)
        elif stage == "output":
            decision = await stack.check_answer(q)
        else:
            raise PolicyConfigError(f"unknown stage {stage!r}; screen supports input and output")
        flagged = next(
            (v for v in decision.verdicts if v.flagged and decision.reason.startswith(v.guard)), None
        )
        yield {
            "query": q,
            "blocked": decision.blocked,
            "action": str(decision.action),
            "guard": flagged.guard if flagged else None,
            "reason": decision.reason or None,
        }
