"""Screening a prompt set with the input-stage guards (`phalanx policies screen`).

Prompt files are read by `phalanx.tools.read_prompts` (text, JSONL, JSON or CSV, decided once per file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from phalanx.policies.errors import PolicyConfigError
from phalanx.policies.stack import PolicyStack


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


class ScreenSummary(BaseModel):
    """A screened prompt set in numbers (`phalanx policies screen --summary`)."""

    n: int
    blocked: int
    blocked_rate: float | None
    """`blocked / n` (rounded to 4 places), None for an empty set."""
    by_guard: dict[str, int]
    """Blocked prompts per guard, most frequent first."""


def summarize_screen(rows: Iterable[Mapping[str, Any]]) -> ScreenSummary:
    """Count the rows `screen_queries` yielded."""
    n, by_guard = 0, Counter[str]()
    for row in rows:
        n += 1
        if row["blocked"]:
            by_guard[row["guard"] or "unknown"] += 1
    blocked = sum(by_guard.values())
    return ScreenSummary(
        n=n,
        blocked=blocked,
        blocked_rate=round(blocked / n, 4) if n else None,
        by_guard=dict(by_guard.most_common()),
    )
