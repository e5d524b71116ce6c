"""One batched `generate` call for many chat requests (the work the micro-batcher hands over).

Prompts of different lengths share one decode loop without paying for a padding
mask in the prefill ("split prefill"):

1. Every row's prompt except its last token is prefilled into the KV cache with
   *right* padding and no attention mask. Causal attention never lets a real token
   look at the pads after it, so each real token's keys and values are exactly what
   the row alone would compute, and torch's sdpa keeps its fast `is_causal` kernel.
   (A left-padded prefill needs a 4-D padding mask: on a CPU that sends sdpa to its
   masked kernel, about 3x slower, and the mask alone is B x L x L — gigabytes for
   32 rows of 4K tokens.) Rows are sorted by length and prefilled in groups of
   similar length (`PREFILL_SLACK`) and bounded size (`PREFILL_TOKENS`), so a short
   prompt never pays for the pads of a long one.
2. One batched `generate` then continues all rows from their last prompt token, with
   a 2-D mask that hides each row's pads. A decode step's query is one token, so that
   mask is B x 1 x L and cheap; transformers derives position ids from the mask, so a
   row sees the positions it would see alone and greedy decoding matches the
   one-by-one result token for token. The merged cache is preallocated (a static
   cache with room for the new tokens) so decode steps write into it in place.

`generate` itself keeps only the last position's logits (`logits_to_keep=1`), and the
prefill asks for one logit too, so the vocabulary projection never runs over the
whole prompt. Models whose cache cannot be split this way (sliding-window layers,
caches without per-layer tensors) fall back to one left-padded `generate`.

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

PREFILL_SLACK = 16
"""A prefill group's longest prompt may exceed its shortest by at most this many tokens
plus 1/16 of the shortest (the pads cost compute, never correctness)."""
PREFILL_TOKENS = 16384
"""Most prompt tokens (rows x width) in one prefill forward pass, to bound activation memory."""


@dataclass
class GenerateStats:
    """What `generate_batch` has done (for benchmarks and tests)."""

    generate_calls: int = 0
    """Calls of `model.generate` (one per micro-batch)."""
    prefill_calls: int = 0
    """Forward passes of the split prefill."""
    prefill_rows: list[int] = field(default_factory=list)
    """Rows of every prefill pass, in order."""
    pad_tokens: int = 0
    """Padding positions computed in prefills (right pads of split prefills, left pads
    of padded fallbacks)."""
    padded_fallbacks: int = 0
    """Batches that ran as one left-padded `generate` with a prefill mask."""


@dataclass
class GenRequest:
    """One prompt to continue, as token ids, with its decoding settings."""

    input_ids: list[int]
    config: GenerationConfig
    on_token: TextSink | None = None
    """Called (from the generation thread) with each new piece of text."""
    uid: int = 0
    """Distinguishes requests that must not share a batch (seeded sampling)."""
    grammar: Any = None
    """A `phalanx.models.grammar.RowGrammar` constraining this row's output, or None."""


@dataclass
class GenResult:
    """What generation produced for one request."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    finish_reason: Literal["stop", "length"] = "stop"
    prompt_tokens: int = 0
    invalid_json: str | None = None
    """For a constrained row that could not finish valid JSON: why."""


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
            grammar = req.grammar
            if grammar is not None:
                # The monitor runs after each token, before the next step's logits processor:
                # the grammar advances here, the processor masks from the advanced state.
                if not grammar.consume(token) or grammar.is_done:
                    self.done[i], self.reason[i] = True, "stop"
                    self.flush(i, gen[i, :step].tolist())
                    continue
                if step >= req.config.max_new_tokens - 24:
                    grammar.wrapping_up = True
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


class GrammarProcessor:
    """A transformers `LogitsProcessor` masking each constrained row to its grammar."""

    def __init__(self, requests: list[GenRequest], monitor: RowMonitor, compiler: Any) -> None:
        self.requests = requests
        self.monitor = monitor
        self.compiler = compiler

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        from phalanx.models.grammar import apply_masks

        rows = [
            (i, r.grammar) for i, r in enumerate(self.requests) if r.grammar is not None and not self.monitor.done[i]
        ]
        apply_masks(scores, rows, self.compiler)
        return scores


def _eos_and_pad(model: Any, tokenizer: Any) -> tuple[int, set[int]]:
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
    return (0 if pad_id is None else pad_id), eos_ids


def _cache_argument(model: Any) -> str | None:
    """Name of the forward argument that takes a KV cache object ("cache" in newer
    transformers, "past_key_values" before), or None when there is none."""
    import inspect

    params = inspect.signature(model.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


def _layer_kv(cache: Any) -> list[tuple[Any, Any]] | None:
    """Per-layer (keys, values) of a full-attention DynamicCache, or None if it has another shape."""
    layers = getattr(cache, "layers", None)
    if layers is None or any(getattr(cache, "is_sliding", [False])):
        return None
    kv = [(getattr(layer, "keys", None), getattr(layer, "values", None)) for layer in layers]
    if not kv or any(k is None or v is None or k.dim() != 4 for k, v in kv):
        return None
    return kv


def prefill_groups(lengths: list[int]) -> list[list[int]]:
    """Split rows (already sorted by length) into prefill passes of similar length.

    A new pass starts when a row is longer than the pass's first row by more than
    `PREFILL_SLACK` + 1/16 of it, or when the pass would exceed `PREFILL_TOKENS`
    (rows x longest); every pass holds at least one row. Returns row indices.
    """
    groups: list[list[int]] = []
    for i, n in enumerate(lengths):
        if groups:
            group = groups[-1]
            first = lengths[group[0]]
            fits = n - first <= PREFILL_SLACK + first // 16 and (len(group) + 1) * n <= PREFILL_TOKENS
            if fits:
                group.append(i)
                continue
        groups.append([i])
    return groups


def _split_prefill(
    model: Any, prefixes: list[list[int]], pad_id: int, stats: GenerateStats, room: int
) -> Any | None:
    """Prefill `prefixes` (sorted by length) right-padded, group by group, into one cache.

    Returns the merged cache (rows in the order of `prefixes`, width = longest prefix,
    `room` more slots for the tokens still to come), or None when the model's cache
    cannot be split and merged (caller falls back).
    """
    import torch
    from transformers import DynamicCache

    arg = _cache_argument(model)
    if arg is None:
        return None
    device = next(model.parameters()).device
    width = max(1, max(len(p) for p in prefixes))
    parts: list[list[Any]] = []
    for group in prefill_groups([len(p) for p in prefixes]):
        rows = [prefixes[i] for i in group]
        w = max(1, max(len(r) for r in rows))  # a group of empty prefixes prefills one pad
        ids = torch.full((len(rows), w), pad_id, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, : len(r)] = torch.tensor(r, dtype=torch.long)
        cache = DynamicCache(config=model.config)
        # No attention mask: causal attention keeps the trailing pads out of every real token.
        model(input_ids=ids.to(device), use_cache=True, logits_to_keep=1, **{arg: cache})
        kv = _layer_kv(cache)
        if kv is None:
            return None
        stats.prefill_calls += 1
        stats.prefill_rows.append(len(rows))
        stats.pad_tokens += sum(w - len(r) for r in rows)
        if w < width:  # pad the sequence axis (dim 2) to the common width; the mask hides it
            kv = [
                (
                    torch.nn.functional.pad(k, (0, 0, 0, width - w)),
                    torch.nn.functional.pad(v, (0, 0, 0, width - w)),
                )
                for k, v in kv
            ]
        parts.append(kv)
    merged = _static_cache(model, width + room) or DynamicCache(config=model.config)
    for layer in range(len(parts[0])):
        keys = torch.cat([p[layer][0] for p in parts]) if len(parts) > 1 else parts[0][layer][0]
        values = torch.cat([p[layer][1] for p in parts]) if len(parts) > 1 else parts[0][layer][1]
        merged.update(keys, values, layer)
        for p in parts:  # drop each layer's pieces once copied: peak stays near one cache
            p[layer] = None
    return merged


def _static_cache(model: Any, length: int) -> Any | None:
    """A preallocated cache of `length` slots, or None where this transformers lacks one.

    A DynamicCache concatenates every layer's keys and values at each decode step, so a
    step copies the whole cache: with 32 rows of 4K tokens that copying is most of the
    decode time on a CPU (about 3x slower than writing into a preallocated cache).
    """
    try:
        from transformers import StaticCache

        return StaticCache(config=model.config, max_cache_len=length)
    except (ImportError, TypeError, ValueError):
        return None


def generate_batch(
    model: Any,
    tokenizer: Any,
    requests: list[GenRequest],
    stats: GenerateStats | None = None,
    *,
    split_prefill: bool = True,
) -> list[GenResult]:
    """Run one batched `generate` for compatible requests (see `batch_key`).

    Args:
        model: a transformers causal LM.
        tokenizer: its tokenizer.
        requests: the batch; each row keeps its own prompt length, limits and stops.
        stats: counters to update (see `GenerateStats`).
        split_prefill: prefill apart and merge the caches (above); False leaves the
            cache to `generate` (for attention that keeps a cache of its own).
    """
    import torch

    stats = stats if stats is not None else GenerateStats()
    pad_id, eos_ids = _eos_and_pad(model, tokenizer)
    # Sorted by prompt length so similar rows share a prefill pass; results go back in request order.
    order = sorted(range(len(requests)), key=lambda i: len(requests[i].input_ids))
    rows = [requests[i] for i in order]
    prompts = [r.input_ids for r in rows]
    device = next(model.parameters()).device
    with torch.inference_mode():
        cache = None
        if split_prefill and max(len(p) for p in prompts) > 1:
            room = max(r.config.max_new_tokens for r in rows) + 1  # the last prompt token + new tokens
            cache = _split_prefill(model, [p[:-1] for p in prompts], pad_id, stats, room)
        if cache is not None:
            # Row layout: prefix, right pads up to the common width, then the last prompt token.
            width = max(len(p) for p in prompts) - 1
            ids = torch.full((len(rows), width + 1), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width + 1), dtype=torch.long)
            for row, p in enumerate(prompts):
                ids[row, : len(p) - 1] = torch.tensor(p[:-1], dtype=torch.long)
                mask[row, : len(p) - 1] = 1
                ids[row, width] = p[-1]
                mask[row, width] = 1
            # _split_prefill returns a cache only for models that take one, so the name exists.
            arg = _cache_argument(model)
            extra: dict[str, Any] = {arg: cache} if arg else {}
        else:
            # Left-padded fallback; an all-ones mask (equal lengths) still takes sdpa's fast path.
            width = max(len(p) for p in prompts)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for row, p in enumerate(prompts):
                ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[row, width - len(p) :] = 1
            pads = int((mask == 0).sum())
            stats.pad_tokens += pads
            stats.padded_fallbacks += int(pads > 0)
            extra = {}
        out, monitor = _generate(
            model, tokenizer, rows, ids.to(device), mask.to(device), pad_id, eos_ids, extra
        )
    stats.generate_calls += 1
    results = _results(tokenizer, rows, out, monitor, ids.shape[1])
    back: list[GenResult] = [results[0]] * len(requests)
    for pos, i in enumerate(order):
        back[i] = results[pos]
    return back


def _generate(
    model: Any,
    tokenizer: Any,
    rows: list[GenRequest],
    ids: Any,
    mask: Any,
    pad_id: int,
    eos_ids: set[int],
    extra: dict[str, Any],
) -> tuple[Any, RowMonitor]:
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    head = rows[0].config
    kwargs = generate_kwargs(head)
    kwargs["max_new_tokens"] = max(r.config.max_new_tokens for r in rows)
    if head.sampling and head.seed is not None:
        torch.manual_seed(head.seed)
    monitor = RowMonitor(tokenizer, rows, ids.shape[1], eos_ids)
    grammars = [r.grammar for r in rows if r.grammar is not None]
    if grammars:
        kwargs["logits_processor"] = LogitsProcessorList(
            [GrammarProcessor(rows, monitor, grammars[0].compiler)]
        )
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        pad_token_id=pad_id,
        eos_token_id=sorted(eos_ids) or None,
        stopping_criteria=StoppingCriteriaList([monitor]),
        **extra,
        **kwargs,
    )
    return out, monitor


def _results(
    tokenizer: Any, rows: list[GenRequest], out: Any, monitor: RowMonitor, width: int
) -> list[GenResult]:
    results = []
    for row, req in enumerate(rows):
        gen = out[row, width:].tolist()
        if not monitor.done[row]:  # generate ended on its own limit before the monitor saw it
            monitor.length[row] = len(gen)
        answer = gen[: monitor.length[row]]
        text = tokenizer.decode(answer, skip_special_tokens=True)
        cut = find_stop(text, req.config.stop)
        if cut >= 0:
            text = text[:cut]
        monitor.flush(row, answer)
        invalid = None
        if req.grammar is not None and not req.grammar.is_done:
            invalid = req.grammar.error or f"the JSON was not complete after {len(answer)} tokens"
        results.append(
            GenResult(
                text=text,
                token_ids=answer,
                finish_reason=monitor.reason[row] if monitor.done[row] else "length",
                prompt_tokens=len(req.input_ids),
                invalid_json=invalid,
            )
        )
    return results
