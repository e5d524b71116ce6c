"""Screening a prompt set with the input-stage guards (`phalanx policies screen`).

Prompt files are read by `phalanx.tools.read_prompts` (text, JSONL, JSON or CSV, decided once per file).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

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
