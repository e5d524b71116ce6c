"""Split a long document into non-overlapping, token-sized chunks (one per member).

LongAgent (methods.md Part A, LongAgent 1) gives every member one disjoint slice
of `chunk_size` tokens of the document, measured with the tokenizer the members
use. We cut on token boundaries but return *character* spans of the original
text, so the chunks concatenate back to the document exactly (no byte-level BPE
decoding artefacts) and each chunk re-tokenises to about `chunk_tokens` tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

DEFAULT_CHUNK_TOKENS = 1500
"""Chunk size of the official code (`chunk_size = 1500`, main_NeedleInAHaystack_PLUS_test.py):
the default, capped to what fits the member's context. The paper used about 3K tokens for
4K-context members; `chunk_tokens="fill"` fills the member's context instead."""

INSTRUCTION_ROOM_TOKENS = 768
"""Tokens kept free in a member's context for the system prompt, the leader's
instruction, last round's responses and the member's reply."""


class TokenOffsets(Protocol):
    """Anything that maps a text to token character spans `[(start, end), ...]`."""

    def offsets(self, text: str) -> list[tuple[int, int]]: ...


@dataclass(frozen=True)
class Chunk:
    """One member's slice of the document."""

    index: int
    """Position of the chunk (and id of the member that reads it)."""
    text: str
    start: int
    """Character offset of the chunk in the document."""
    end: int
    n_tokens: int
    """Tokens of the document inside this chunk."""


class RegexTokenizer:
    """A dependency-free tokenizer: words, numbers and single punctuation marks.

    Used for members without a tokenizer of their own (scripted or remote models);
    it counts roughly like a BPE tokenizer on English prose.
    """

    _TOKEN = re.compile(r"\w+|[^\w\s]")

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._TOKEN.finditer(text)]

    def count(self, text: str) -> int:
        return sum(1 for _ in self._TOKEN.finditer(text))


class HFTokenizer:
    """Adapter for a Hugging Face (fast) tokenizer: token spans from offset mapping."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in enc["offset_mapping"]]

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenizer_for(model: Any) -> HFTokenizer | RegexTokenizer:
    """The members' tokenizer: the model's own (`model.tokenizer`) or `RegexTokenizer`."""
    tok = getattr(model, "tokenizer", None)
    if tok is not None and getattr(tok, "is_fast", False):
        return HFTokenizer(tok)
    return RegexTokenizer()


def context_length_of(model: Any) -> int | None:
    """The member model's context window in tokens, when the backend exposes it."""
    for attr in ("context_limit", "context_length", "max_context_tokens"):
        value = getattr(model, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    hf = getattr(model, "model", None)
    config = getattr(hf, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def fill_chunk_tokens(model: Any) -> int | None:
    """Chunk size that fills the member's context, minus room for instructions (None: unknown context)."""
    ctx = context_length_of(model)
    if ctx is None:
        return None
    if ctx <= INSTRUCTION_ROOM_TOKENS * 2:
        return max(ctx // 2, 16)
    return ctx - INSTRUCTION_ROOM_TOKENS


def default_chunk_tokens(model: Any) -> int:
    """The official chunk size (`DEFAULT_CHUNK_TOKENS`), or less when the member's context is smaller."""
    fill = fill_chunk_tokens(model)
    return DEFAULT_CHUNK_TOKENS if fill is None else min(DEFAULT_CHUNK_TOKENS, fill)


def resolve_chunk_tokens(chunk_tokens: int | str | None, model: Any) -> int:
    """A team's chunk size: an int as given, `"fill"` (`fill_chunk_tokens`) or None (`default_chunk_tokens`).

    Raises:
        ValueError: anything else (the message says what is accepted).
    """
    if chunk_tokens is None:
        return default_chunk_tokens(model)
    if chunk_tokens == "fill":
        return fill_chunk_tokens(model) or DEFAULT_CHUNK_TOKENS
    if isinstance(chunk_tokens, bool) or not isinstance(chunk_tokens, int) or chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be an int >= 1, 'fill' or None, got {chunk_tokens!r}")
    return chunk_tokens


def chunk_document(
    document: str,
    chunk_tokens: int,
    tokenizer: TokenOffsets | None = None,
    *,
    align: Literal["token", "sentence"] = "token",
) -> list[Chunk]:
    """Split `document` into consecutive non-overlapping chunks of `chunk_tokens` tokens.

    With `align="token"` (the official hard cut) every chunk but the last holds exactly
    `chunk_tokens` tokens. With `align="sentence"` a cut moves back, by at most a quarter
    of a chunk, to the start of a sentence, so a fact is less often split between two
    members; chunks then hold at most `chunk_tokens` tokens. Either way the whitespace
    between two tokens belongs to the earlier chunk and
    `"".join(c.text for c in chunks) == document`.

    Args:
        document: the full text.
        chunk_tokens: tokens per chunk (>= 1).
        tokenizer: the members' tokenizer; `RegexTokenizer()` when None.
        align: `token` or `sentence` (see above).

    Raises:
        ValueError: `chunk_tokens` < 1, an unknown `align`, or an empty document.
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    if align not in ("token", "sentence"):
        raise ValueError(f"align must be 'token' or 'sentence', got {align!r}")
    if not document.strip():
        raise ValueError("the document is empty; pass the text to read (e.g. --doc FILE)")
    spans: Sequence[tuple[int, int]] = (tokenizer or RegexTokenizer()).offsets(document)
    if not spans:
        return [Chunk(0, document, 0, len(document), 0)]
    cuts = [0]  # token index where each chunk starts
    while cuts[-1] + chunk_tokens < len(spans):
        end = cuts[-1] + chunk_tokens
        if align == "sentence":
            floor = max(cuts[-1] + 1, end - max(chunk_tokens // 4, 1))
            end = next((j for j in range(end, floor - 1, -1) if _starts_sentence(document, spans[j][0])), end)
        cuts.append(end)
    bounds = cuts + [len(spans)]
    chars = [0] + [spans[i][0] for i in cuts[1:]] + [len(document)]
    return [
        Chunk(k, document[chars[k] : chars[k + 1]], chars[k], chars[k + 1], bounds[k + 1] - bounds[k])
        for k in range(len(cuts))
    ]


def _starts_sentence(text: str, char: int) -> bool:
    before = text[max(char - 64, 0) : char].rstrip()  # a window: never copy the whole prefix
    return char == 0 or (bool(before) and before[-1] in ".!?\n") or "\n" in text[max(char - 64, 0) : char]
