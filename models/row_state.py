"""Per-row bookkeeping of a generation: stop strings, streaming, limits, loops, grammar.

Shared by the generation engine (`phalanx.models.engine`) for every running row. A row
ends on end-of-sequence, a stop string, its `max_new_tokens`, a degenerate loop (when
the config asks for it), or — for a constrained row — when its JSON is complete.
"""

from __future__ import annotations

from typing import Any, Literal

from phalanx.models.grammar import RowGrammar
from phalanx.models.hf_generate import GenRequest, GenResult, _held_back, find_stop

WRAP_UP_TOKENS = 24
"""A constrained row starts closing its JSON this many tokens before its limit."""
GRACE_TOKENS = 64
"""A constrained row may run this many tokens past its limit to finish valid JSON."""


def loop_period(tokens: list[int], *, min_span: int = 32, max_period: int = 64) -> int:
    """Period of a loop the tail of `tokens` is caught in, or 0.

    A loop: the last `max(min_span, r * p)` tokens repeat one unit of `p` tokens
    (`p <= max_period`), `r` = 4 repeats for units under 8 tokens and 3 for longer ones.
    Small models fall into such loops ("the document part in a few words: the document
    part in a few words: ...", the same tool call listed again and again) and would
    otherwise run to their token limit.
    """
    n = len(tokens)
    for period in range(1, max_period + 1):
        span = max(min_span, (4 if period < 8 else 3) * period)
        if span > n:
            break
        tail = tokens[n - span :]
        if all(tail[i] == tail[i - period] for i in range(period, span)):
            return period
    return 0


class RowState:
    """The state of one running row."""

    def __init__(
        self,
        tokenizer: Any,
        request: GenRequest,
        eos_ids: set[int],
        grammar: RowGrammar | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.request = request
        self.config = request.config
        self.eos_ids = eos_ids
        self.grammar = grammar
        self.generated: list[int] = []
        self.answer_len = 0
        """Generated tokens that belong to the answer (EOS excluded)."""
        self.done = False
        self.reason: Literal["stop", "length"] = "length"
        self.emitted = 0
        self.text = ""
        self.invalid_json: str | None = None
        """Why a constrained row could not finish valid JSON (None when it did)."""

    @property
    def limit(self) -> int:
        """Most tokens this row may generate."""
        return self.config.max_new_tokens + (GRACE_TOKENS if self.grammar is not None else 0)

    def needs_text(self) -> bool:
        return bool(self.config.stop) or self.request.on_token is not None

    def push(self, token: int) -> None:
        """Take one generated token; sets `done` (and `reason`) when the row ends."""
        self.generated.append(token)
        if token in self.eos_ids:
            self.done, self.reason = True, "stop"
            self._flush()
            return
        self.answer_len = len(self.generated)
        grammar = self.grammar
        if grammar is not None:
            if not grammar.consume(token):
                self.invalid_json = grammar.error or "the grammar rejected a token"
                self.done, self.reason = True, "stop"
                self._flush()
                return
            if grammar.is_done:
                self.done, self.reason = True, "stop"
                self._flush()
                return
        if self.needs_text():
            text = self.tokenizer.decode(self.generated[: self.answer_len], skip_special_tokens=True)
            stops = self.config.stop
            cut = find_stop(text, stops) if stops else -1
            if cut >= 0:
                self.done, self.reason = True, "stop"
                self._emit(text[:cut])
                return
            if self.request.on_token is not None and not text.endswith("\ufffd"):
                self._emit(text[: len(text) - _held_back(text, stops)])
        if self.config.stop_on_loop and loop_period(self.generated):
            if grammar is None:
                self.done, self.reason = True, "length"
                self._flush()
                return
            grammar.wrapping_up = True
        if grammar is not None and len(self.generated) >= self.config.max_new_tokens - WRAP_UP_TOKENS:
            grammar.wrapping_up = True
        if len(self.generated) >= self.limit:
            self.done, self.reason = True, "length"
            if grammar is not None:
                self.invalid_json = f"the JSON was not complete after {self.limit} tokens"
            self._flush()

    def _emit(self, text: str) -> None:
        sink = self.request.on_token
        if sink is not None and len(text) > self.emitted:
            sink(text[self.emitted :])
            self.emitted = len(text)

    def _flush(self) -> None:
        if self.request.on_token is not None:
            text = self.tokenizer.decode(self.generated[: self.answer_len], skip_special_tokens=True)
            cut = find_stop(text, self.config.stop)
            self._emit(text if cut < 0 else text[:cut])

    def result(self) -> GenResult:
        """What this row produced."""
        answer = self.generated[: self.answer_len]
        text = self.tokenizer.decode(answer, skip_special_tokens=True)
        cut = find_stop(text, self.config.stop)
        if cut >= 0:
            text = text[:cut]
        return GenResult(
            text=text,
            token_ids=answer,
            finish_reason=self.reason,
            prompt_tokens=len(self.request.input_ids),
            invalid_json=self.invalid_json,
        )
