"""Rule-based scoring of model replies: numbers, yes/no, A/B choices, normalised text.

As in the official judge (methods.md Part B §2 "Scoring"): no LLM judge. A reply's final
answer is taken from its last `Answer:` line when there is one, else from the whole reply.
"""

from __future__ import annotations

import re
from typing import Literal

from phalanx.agents.selfevolve.operations import normalise

AnswerKind = Literal["numeric", "yes_no", "choice", "text"]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_SYNONYMS = {"mom": "mother", "dad": "father", "grandma": "grandmother", "grandpa": "grandfather"}


def answer_kind(reference: str) -> AnswerKind:
    """How a reference answer is compared: as a number, a yes/no, a choice letter, or normalised text."""
    ref = reference.strip()
    if re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", ref):
        return "numeric"
    if normalise(ref) in ("yes", "no"):
        return "yes_no"
    if ref in ("A", "B"):
        return "choice"
    return "text"


def final_answer(reply: str) -> str:
    """The text after the last `Answer:` marker of a reply (the whole reply if there is none)."""
    hits = re.findall(r"answer\s*(?:is)?\s*[:=]\s*(.+)", reply, flags=re.I)
    return (hits[-1] if hits else reply).strip()


def _to_float(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def score_reply(reply: str, reference: str, kind: AnswerKind | None = None) -> bool:
    """Whether `reply` gives the `reference` answer under rule-based matching."""
    kind = kind or answer_kind(reference)
    answer = final_answer(reply)
    if kind == "numeric":
        ref = _to_float(reference)
        # the official gsm8k judge compares the last numbers of the reply (|diff| < 1e-4)
        nums = [_to_float(n) for n in _NUMBER.findall(answer)] or [
            _to_float(n) for n in _NUMBER.findall(reply)
        ]
        return any(n is not None and ref is not None and abs(n - ref) < 1e-4 for n in nums[-2:])
    if kind == "yes_no":
        words = re.findall(r"\b(yes|no)\b", answer.lower())
        return bool(words) and words[0] == normalise(reference)
    if kind == "choice":
        m = re.search(r"\b([AB])\b", answer) or re.search(r"^\(?([AB])[).:]?", answer.strip(), flags=re.I)
        return m is not None and m.group(1).upper() == reference.strip()
    got = " ".join(_SYNONYMS.get(w, w) for w in normalise(answer).split())
    want = " ".join(_SYNONYMS.get(w, w) for w in normalise(reference).split())
    return got == want or got.rstrip(" .") == want
