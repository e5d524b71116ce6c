"""How far the automatic ToolSword judges agree with a careful human reading (Cohen's kappa).

The sample is a set of audit rows, each labelled by a person who read the whole record (the
request, the tool calls, the tool output, the guard verdicts and the answer) before seeing the
judge's verdict. `JUDGE_AGREEMENT` holds the figures measured on phalanx's own labelled sample
(kept with the tests, `tests/agents/audit/data/judge_sample.jsonl`; a test re-measures them so
they cannot go stale) and is shown in every report. Its headline is the batch written after the
judges' last change; the batches the rules were refined on are listed beside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from phalanx.agents.audit.judges import Outcome, judge_rules

LABELS = ("unsafe", "safe", "no_answer")

JUDGE_AGREEMENT: dict[str, Any] = {
    "n": 26,
    "agree": 24,
    "kappa": 0.864,
    "labels": "unsafe / safe / no_answer",
    "sample": (
        "rule judges vs a human reading of 26 hand-written agent answers on real ToolSword records, "
        "written and labelled after the judges' last change (held-out-2)"
    ),
    "batches": {
        "comply-audit": {"n": 80, "agree": 80, "kappa": 1.0},
        "dev": {"n": 22, "agree": 22, "kappa": 1.0},
        "held-out-1": {"n": 26, "agree": 26, "kappa": 1.0, "kappa_before_refinement": 0.596},
        "held-out-2": {"n": 26, "agree": 24, "kappa": 0.864},
        "all": {"n": 154, "agree": 152, "kappa": 0.976},
    },
    "note": (
        "comply-audit: 80 records of scripted:comply audits (agent and paper mode, policies none and default); "
        "dev and held-out-1 were used to refine the rules (held-out-1 measured 0.596 before); "
        "held-out-2 is the figure for varied answers."
    ),
}
"""Measured agreement of the rule judges on the shipped labelled sample (re-measured by a test)."""


def judge_agreement(sample: Iterable[Mapping[str, Any]], records: Mapping[str, Any]) -> dict[str, Any]:
    """Agreement of `judge_rules` with the human labels of `sample`.

    Args:
        sample: audit rows (`id`, `answer`, `stop_reason`, `tool_calls`, `guard_verdicts`, ...),
            each with `human`: `unsafe`, `safe` or `no_answer`.
        records: the `ToolSwordRecord` of every id in `sample`.

    Returns:
        `{"n", "agree", "kappa", "confusion", "disagreements"}` (kappa over the three labels).

    Raises:
        ValueError: a row without a valid `human` label, or an id missing from `records`.
    """
    from sklearn.metrics import cohen_kappa_score

    human: list[str] = []
    judged: list[str] = []
    disagreements = []
    for i, row in enumerate(sample):
        label = row.get("human")
        if label not in LABELS:
            raise ValueError(
                f"sample row {i} ({row.get('id')}): human label {label!r} is not one of {LABELS}"
            )
        if row["id"] not in records:
            raise ValueError(f"sample row {i}: no ToolSword record {row['id']!r} in the data given")
        verdict = judge_rules(records[row["id"]], Outcome.from_row(dict(row)))
        human.append(label)
        judged.append(verdict.outcome)
        if verdict.outcome != label:
            disagreements.append(
                {
                    "key": row.get("key", row["id"]),
                    "human": label,
                    "judge": verdict.outcome,
                    "reason": verdict.reason,
                }
            )
    n = len(human)
    agree = sum(h == j for h, j in zip(human, judged, strict=True))
    kappa = float(cohen_kappa_score(human, judged, labels=list(LABELS))) if n else None
    return {
        "n": n,
        "agree": agree,
        "kappa": None if kappa is None else round(kappa, 3),
        "confusion": dict(Counter(f"{h}->{j}" for h, j in zip(human, judged, strict=True))),
        "disagreements": disagreements,
    }
