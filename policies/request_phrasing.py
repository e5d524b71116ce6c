"""Phrasing-balanced training data for the request classifier.

Public request sets differ in phrasing as much as in harm: the harmful sets this package trains on
are mostly questions ("How can I ...?"), while the benign sets hold many imperatives ("Write ...",
"Browse ...", "You want to cancel ..."). A topic classifier trained on them learns that phrasing,
and then lets through harmful imperatives ("Give detailed instructions for ...") and blocks benign
questions. Counterfactual augmentation removes the shortcut: every request whose action can be
read off a simple pattern is restated in a fixed set of request forms, on both sides alike, so that
each form occurs with harmful and with benign actions and only the action tells them apart.

The forms are generic request phrasings, not taken from any evaluation set. Rephrased rows keep
their source, so leave-one-source-out cross-validation holds them out with their originals. A
restatement can still reproduce a line of some evaluation set ("How can I ..."), so training passes
them through `drop_overlapping` with every text it must never train on (8-word runs, whole lines).
(Counterfactual augmentation in the sense of Kaushik et al., 2020: edit what should not matter,
keep the label.)
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from phalanx.policies.text import word_ngrams, words

# Forms for an action the requester wants to carry out ("how can I <x>").
HOW_TO_FORMS = (
    "How can I {x}?",
    "How to {x}?",
    "Walk me through how to {x}, step by step.",
    "Explain in detail how to {x}.",
    "Write a guide on how to {x}.",
    "What is the best way to {x}?",
    "I want to {x}. Tell me exactly what to do.",
    "Describe how someone could {x}.",
)
# Forms for a task the assistant is asked to do ("write <x>", "can you <x>").
TASK_FORMS = ("{X}.", "Can you {x}?", "I need you to {x}.", "Please {x}, in detail.")

_HOW_TO = re.compile(
    r"^(?:how (?:can|do|could|would|should|might|may) (?:i|one|we|you|someone|a person|people)"
    r"|how to"
    r"|what(?:'s| is| are) (?:the )?(?:best |easiest |most effective )?(?:way|ways|methods?|steps?)"
    r" (?:for me )?to"
    r"|is there a way to|help me|teach me how to|show me how to|tell me how to"
    r"|you (?:want|need|would like) to)\s+(.+?)[?.!]*$",
    re.IGNORECASE,
)
_CAN_YOU = re.compile(r"^(?:can|could|would|will) you (?:please )?(.+?)[?.!]*$", re.IGNORECASE)
# Imperatives whose subject could be the requester too ("write a post" -> "how can I write a post").
_ACTIONS = frozenset(
    "write draft compose create generate develop design make build plan find browse search book "
    "cancel buy order prepare organize organise set get check add send".split()
)
# Imperatives addressed to the assistant only ("explain ..." does not read as "how can I explain").
_TELLING = frozenset(
    "give describe explain list provide outline suggest tell show summarize summarise brainstorm "
    "devise determine detail instruct".split()
)
MAX_CHARS = 300
"""Longer requests (documents, templates, multi-part tasks) are not restated."""


def request_action(text: str) -> tuple[str, str] | None:
    """The action a short request asks about and its kind, or None when no pattern fits.

    Returns:
        (`how_to`, x) for "how can I x" requests, (`task`, x) for requests that ask the assistant
        to do x, (`both`, x) for imperatives that read either way; x starts in lower case.
    """
    if "\n" in text.strip():
        return None
    t = " ".join(text.split())
    if not t or len(t) > MAX_CHARS:
        return None
    for rx, kind in ((_HOW_TO, "how_to"), (_CAN_YOU, "task")):
        m = rx.match(t)
        if m:
            x = m.group(1).strip()
            return (kind, x[0].lower() + x[1:]) if len(x.split()) >= 2 else None
    first = t.split()[0].lower().strip(",:;")
    if first in _ACTIONS or first in _TELLING:
        x = t.rstrip("?.! ")
        if len(x.split()) < 3:
            return None
        return ("both" if first in _ACTIONS else "task"), x[0].lower() + x[1:]
    return None


def rephrase_requests(
    rows: Sequence[dict[str, str]], per_row: int = 3, seed: int = 0
) -> list[dict[str, str]]:
    """Restate each request whose action can be read in `per_row` forms drawn at random (seeded).

    Args:
        rows: `{"text", "source"}` rows.
        per_row: forms per request (0: none).
        seed: the draw of forms, so the same rows give the same restatements.

    Returns:
        New rows `{"text", "source", "rephrased_from"}`, the source kept; the originals are not included.
    """
    if per_row < 0:
        raise ValueError(f"per_row must be >= 0, got {per_row}")
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    for row in rows:
        found = request_action(row["text"]) if per_row else None
        if found is None:
            continue
        kind, x = found
        forms: Sequence[str] = {"how_to": HOW_TO_FORMS, "task": TASK_FORMS}.get(
            kind, HOW_TO_FORMS + TASK_FORMS
        )
        original = row["text"].strip().rstrip("?.!").lower()
        for form in rng.sample(list(forms), min(per_row, len(forms))):
            text = form.format(x=x, X=x[0].upper() + x[1:])
            if text.rstrip("?.!").lower() != original:
                out.append({"text": text, "source": row["source"], "rephrased_from": row["text"]})
    return out


RUN = 8
"""Word-run length of the decontamination rule: a training text may share no run this long with an
evaluation text, nor contain a whole evaluation line."""


def drop_overlapping(rows: Sequence[dict[str, str]], avoid: Sequence[str]) -> list[dict[str, str]]:
    """The rows that share no `RUN`-word run with any `avoid` text and contain none of its lines.

    Restating a short harmful request in a common form can reproduce a line of an evaluation set
    ("How can I ..."); such restatements are dropped so that nothing trained on is evaluated on.
    """
    tokens = [words(row["text"]) for row in rows]
    texts = [" ".join(t) for t in tokens]
    longest = max((len(t) for t in texts), default=0)
    runs: set[tuple[str, ...]] = set()
    lines: set[str] = set()
    for text in avoid:
        runs |= word_ngrams(words(text), RUN)
        for line in text.splitlines():
            joined = " ".join(words(line))
            # three words or more (a shorter fragment is no line), and short enough to fit in a row
            if joined.count(" ") >= 2 and len(joined) <= longest:
                lines.add(joined)
    return [
        row
        for row, toks, joined in zip(rows, tokens, texts, strict=True)
        if not (word_ngrams(toks, RUN) & runs or any(line in joined for line in lines))
    ]
