"""One batched `generate` call for many chat requests (the work the micro-batcher hands over).

Rows are left-padded to a common width with an attention mask, so every row's last
prompt token sits at the same position and generation continues from it; transformers
derives position ids from the mask, so a padded row sees exactly the positions it
would see alone and greedy decoding matches the one-by-one result.

Requests in one batch may differ in `max_new_tokens` and `stop` strings: a per-row
`RowMonitor` (a transformers `StoppingCriteria`) ends each row on its own limit or
stop string and streams each row's new text to its `on_token` callback.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

from phalanx.models.types import GenerationConfig

TextSink = Callable[[str], None]


@dataclass
class GenRequest:
    """One prompt to continue, as token ids, with its decoding settings."""

    input_ids: list[int]
    config: GenerationConfig
    on_token: TextSink | None = None
    """Called (from the generation thread) with each new piece of text."""
    uid: int = 0
    """Distinguishes requests that must not share a batch (seeded sampling)."""


@dataclass
class GenResult:
    """What generation produced for one request."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    finish_reason: Literal["stop", "length"] = "stop"
    prompt_tokens: int = 0


def batch_key(request: GenRequest) -> Hashable:
    """Requests with equal keys can share one `generate` call.

    Greedy requests share regardless of length limits and stop strings (handled per
    row). Sampling requests share when their sampling settings agree; a seeded
    sampling request runs alone so its seed alone determines its output.
    """
    cfg = request.config
    if not cfg.sampling:
        return ("greedy", cfg.repetition_penalty)
    seed_part = ("seed", request.uid) if cfg.seed is not None else None
    return ("sample", cfg.temperature, cfg.top_p, cfg.top_k, cfg.repetition_penalty, seed_part)


def generate_kwargs(config: GenerationConfig) -> dict[str, Any]:
    """Map a `GenerationConfig` to keyword arguments of transformers' `generate`.

    Every sampling field is passed explicitly so a checkpoint's own
    `generation_config.json` (often `do_sample=True, top_k=50`) never changes what
    the caller asked for. Temperature 0 means greedy decoding.
    """
    kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens}
    if config.sampling:
        kwargs.update(
            do_sample=True,
            temperature=config.temperature if config.temperature > 0 else 1.0,
            top_p=config.top_p,
            top_k=config.top_k,
        )
    else:
        # Neutral values: greedy ignores them, and they silence "unused flag" warnings.
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if config.repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = config.repetition_penalty
    return kwargs


def find_stop(text: str, stops: list[str]) -> int:
    """Index of the earliest stop string in `text`, or -1."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits, default=-1)


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters could still become a stop string (not streamed yet)."""
    held = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:n]):
                held = n
                break
    return held


class RowMonitor:
    """Per-row stopping (length, stop strings, EOS) and streaming for one batch.

    Used as a transformers `StoppingCriteria`: called after every step with the
    whole `input_ids`, it returns which rows are done.
    """

    def __init__(self, tokenizer: Any, requests: list[GenRequest], width: int, eos_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.requests = requests
        self.width = width
        self.eos_ids = eos_ids
        n = len(requests)
        self.done = [False] * n
        self.reason: list[Literal["stop", "length"]] = ["length"] * n
        self.length = [0] * n
        """Generated tokens that belong to the answer (EOS excluded)."""
        self.emitted = [0] * n
        """Characters already streamed per row."""

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def __call__(self, input_ids: Any, scores: Any = None, **kwargs: Any) -> Any:
        import torch

        gen = input_ids[:, self.width :]
        step = gen.shape[1]
        for i, req in enumerate(self.requests):
            if self.done[i]:
                continue
            token = int(gen[i, -1])
            if token in self.eos_ids:
                self.done[i], self.reason[i] = True, "stop"
                self.flush(i, gen[i, : self.length[i]].tolist())
                continue
            self.length[i] = step
            stops = req.config.stop
            if stops or req.on_token is not None:
                text = self._decode(gen[i, :step].tolist())
                cut = find_stop(text, stops) if stops else -1
                if cut >= 0:
                    self.done[i], self.reason[i] = True, "stop"
                    self._emit(i, text[:cut])
                    continue
                if req.on_token is not None and not text.endswith("\ufffd"):  # wait for whole UTF-8 chars
                    self._emit(i, text[: len(text) - _held_back(text, stops)])
            if step >= req.config.max_new_tokens:
                self.done[i], self.reason[i] = True, "length"
                self.flush(i, gen[i, :step].tolist())
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)

    def _emit(self, i: int, text: str) -> None:
        sink = self.requests[i].on_token
        if sink is not None and len(text) > self.emitted[i]:
            sink(text[self.emitted[i] :])
            self.emitted[i] = len(text)

    def flush(self, i: int, ids: list[int]) -> None:
        """Stream whatever of row `i`'s final text is still held back."""
        if self.requests[i].on_token is not None:
            text = self._decode(ids)
            cut = find_stop(text, self.requests[i].config.stop)
            self._emit(i, text if cut < 0 else text[:cut])


def generate_batch(model: Any, tokenizer: Any, requests: list[GenRequest]) -> list[GenResult]:
    """Run one left-padded batched `generate` for compatible requests (see `batch_key`)."""
    import torch
    from transformers import StoppingCriteriaList

    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    width = max(len(r.input_ids) for r in requests)
    ids = torch.full((len(requests), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(requests), width), dtype=torch.long)
    for row, req in enumerate(requests):
        n = len(req.input_ids)
        ids[row, width - n :] = torch.tensor(req.input_ids, dtype=torch.long)
        mask[row, width - n :] = 1
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)

    head = requests[0].config
    kwargs = generate_kwargs(head)
    kwargs["max_new_tokens"] = max(r.config.max_new_tokens for r in requests)
    if head.sampling and head.seed is not None:
        torch.manual_seed(head.seed)
    monitor = RowMonitor(tokenizer, requests, width, eos_ids)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            pad_token_id=pad_id,
            eos_token_id=sorted(eos_ids) or None,
            stopping_criteria=StoppingCriteriaList([monitor]),
            **kwargs,
        )

    results = []
    for row, req in enumerate(requests):
        gen = out[row, width:].tolist()
        if not monitor.done[row]:  # generate ended on its own limit before the monitor saw it
            monitor.length[row] = len(gen)
        answer = gen[: monitor.length[row]]
        text = tokenizer.decode(answer, skip_special_tokens=True)
        cut = find_stop(text, req.config.stop)
        if cut >= 0:
            text = text[:cut]
        monitor.flush(row, answer)
        results.append(
            GenResult(
                text=text,
                token_ids=answer,
                finish_reason=monitor.reason[row] if monitor.done[row] else "length",
                prompt_tokens=len(req.input_ids),
            )
        )
    return results
