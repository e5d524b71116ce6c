"""Text helpers shared by guards and judges: sentence splitting, tool-output flattening, refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

# Sentence ends: punctuation followed by space or directly by a capital letter
# (tool outputs often glue sentences together: "beginnings.The best way...").
_SENT_SPLIT = re.compile(r"(?<=[.!?])(?:\s+|(?=[A-Z][a-z]))|\n+")


def split_sentences(text: str, max_sentences: int = 64) -> list[str]:
    """Split `text` into non-empty sentences (at most `max_sentences`, the rest joined to the last)."""
    parts = [p.strip() for p in _SENT_SPLIT.split(text or "") if p and p.strip()]
    if len(parts) > max_sentences:
        parts = parts[: max_sentences - 1] + [" ".join(parts[max_sentences - 1 :])]
    return parts


def flatten_output(content: str) -> str:
    """Tool output as plain text: a JSON list of strings becomes its items joined, else unchanged."""
    text = (content or "").strip()
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return "\n".join(data)
    return text


_REFUSAL = re.compile(
    r"\b(i\s*(?:'m| am)\s+(?:sorry|afraid|unable|not able)|i\s*(?:can(?:no|')t|cannot|won't|will not|must decline|"
    r"(?:do|will) not (?:help|assist|provide|comply))|(?:can(?:no|')t|cannot|won't|unable to) (?:help|assist|"
    r"provide|comply|fulfil|fulfill|share|do that)|not (?:able|allowed|permitted) to|against (?:my|the) "
    r"(?:guidelines|policy|policies)|(?:blocked|withheld|refused) by (?:the )?(?:phalanx )?polic(?:y|ies)|"
    r"i (?:must|have to) refuse|as an ai,? i (?:can(?:no|')t|cannot|won't))",
    re.IGNORECASE,
)


def is_refusal(text: str | None) -> bool:
    """Whether `text` reads as a refusal (rule-based; the first 400 characters decide)."""
    return bool(text) and bool(_REFUSAL.search((text or "")[:400]))


_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case alphanumeric tokens."""
    return _WORD.findall((text or "").lower())


def word_ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """The runs of `n` consecutive tokens (none when there are fewer than `n`)."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def ngram_containment(source: str, target: str, n: int = 4) -> float:
    """Fraction of `source`'s word n-grams that also occur in `target` (0 when source is short)."""
    src, tgt = words(source), words(target)
    if len(src) < n:
        return 1.0 if src and " ".join(src) in " ".join(tgt) else 0.0
    grams = word_ngrams(src, n)
    return len(grams & word_ngrams(tgt, n)) / len(grams)
