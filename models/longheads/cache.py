"""The LongHeads KV cache: keys without RoPE, chunk-local keys and one representative key per chunk.

Per layer it keeps (LongHeads, Lu et al. 2024, §3.2 and the official
`modeling_longheads/modeling_llama.py`):

* `raw_keys` — every token's key *without* rotary embedding, so attention can give a
  key any position;
* `local_keys` — the same keys rotated to their offset inside their chunk (`t % chunk`).
  Any position `r·chunk + u` is reached from them by rotating the query instead (RoPE is
  relative), so attention never re-rotates thousands of keys per step;
* `values`;
* `chunk_keys` — one representative key per complete chunk and query head, computed once
  when the chunk fills: non-causal attention inside the chunk at chunk-local positions,
  the outputs mean-pooled, and that mean used as the query of an attention pooling over
  the chunk's keys (`chunk_representations`).

Buffers grow in place (amortised), so a decode step writes one position instead of
copying the whole cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers.cache_utils import Cache, CacheLayerMixin

from phalanx.models.errors import ModelRequestError
from phalanx.models.longheads.rope import RopeTable


@dataclass(frozen=True)
class LongHeadsSettings:
    """Chunk size and per-head attention budget (both in tokens)."""

    chunk: int = 256
    """Tokens per chunk (the official `window_size`)."""
    budget: int = 4096
    """Tokens each head attends to (the official `atten_length`); a multiple of `chunk`, at
    least 3 chunks. The first `budget` tokens of a sequence use ordinary causal attention."""

    @property
    def chunks(self) -> int:
        """Chunks per head: `budget // chunk` (the official `atten_chunk_num`)."""
        return self.budget // self.chunk


@dataclass
class LongHeadsRuntime:
    """What every attention module of a LongHeads model shares: settings and the RoPE table."""

    settings: LongHeadsSettings
    rope: RopeTable


def chunk_representations(q_local: Any, k_local: Any, values: Any, scale: float) -> Any:
    """Representative keys of `n` full chunks, one per query head.

    Args:
        q_local: queries at chunk-local positions, `(B, H, n, chunk, d)`.
        k_local: keys at chunk-local positions, `(B, K, n, chunk, d)` (K divides H).
        values: `(B, K, n, chunk, d)`.
        scale: softmax scale of the intra-chunk attention (the model's).

    Returns:
        `(B, H, n, d)`: for each chunk, an attention pooling of its keys whose query is the
        mean of the chunk's non-causal self-attention outputs (official `chunk_features_key`).
    """
    import torch.nn.functional as F

    b, h, n, w, d = q_local.shape
    kv = k_local.shape[1]
    g = h // kv
    # Group query heads under their key/value head: (B*K*n, G*w, d) against (B*K*n, w, d).
    q = q_local.view(b, kv, g, n, w, d).permute(0, 1, 3, 2, 4, 5).reshape(b * kv * n, g * w, d)
    k = k_local.reshape(b * kv * n, w, d)
    v = values.reshape(b * kv * n, w, d)
    mixed = F.scaled_dot_product_attention(q, k, v, scale=scale)  # non-causal inside the chunk
    mean = mixed.view(b * kv * n, g, w, d).mean(dim=2)  # (B*K*n, G, d)
    pooled = F.scaled_dot_product_attention(mean, k, k)  # official: SDPA(query=mean, key=k, value=k)
    return pooled.view(b, kv, n, g, d).permute(0, 1, 3, 2, 4).reshape(b, h, n, d)


class LongHeadsLayer(CacheLayerMixin):
    """One layer's LongHeads cache (see the module docstring).

    `update` returns this object itself in place of the key and value tensors: the
    LongHeads attention function needs the raw keys, the chunk-local keys and the chunk
    keys together, and the model passes whatever `update` returns straight to it.
    """

    is_compileable = False
    is_croppable = False
    is_sliding = False

    def __init__(self, runtime: LongHeadsRuntime) -> None:
        super().__init__()
        self.runtime = runtime
        self.length = 0
        """Tokens cached."""
        self.done = 0
        """Chunks whose representative keys are computed (always the complete ones after a pass)."""
        self.raw_keys: Any = None
        self.local_keys: Any = None
        self.value_cache: Any = None
        self.chunk_keys: Any = None
        self.pending_queries: Any = None
        """Raw queries of the tokens after the last complete chunk (the next chunk's representation needs them)."""

    # -- transformers' layer protocol -------------------------------------------------------------

    def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
        self.device = key_states.device
        self.is_initialized = True

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """Append rotated `key_states` (stored un-rotated) and `value_states`; returns `(self, self)`."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        extra = kwargs.get("kwargs") or kwargs
        positions = _positions(extra.get("position_ids"), self.length, key_states.shape[2])
        self.append(key_states, value_states, positions)
        return self, self

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return -1

    def reset(self) -> None:
        self.length = self.done = 0
        self.raw_keys = self.local_keys = self.value_cache = self.keys = self.values = None
        self.chunk_keys = self.pending_queries = None
        self.is_initialized = False

    def reorder_cache(self, beam_idx: Any) -> None:
        raise ModelRequestError("LongHeads does not support beam search; decode greedily or by sampling")

    # -- LongHeads state ------------------------------------------------------------------------

    def append(self, rotated_keys: Any, values: Any, positions: Any) -> None:
        """Store the keys of `positions` (rotated there by the model) without RoPE, and their values."""
        rope, w = self.runtime.rope, self.runtime.settings.chunk
        raw = rope.unrotate(rotated_keys, positions)
        local = rope.rotate(raw, positions % w)
        start, end = self.length, self.length + raw.shape[2]
        self._reserve(raw, end)
        self.raw_keys[:, :, start:end] = raw
        self.local_keys[:, :, start:end] = local
        self.value_cache[:, :, start:end] = values
        self.keys, self.values = self.raw_keys, self.value_cache  # what transformers' generic helpers read
        self.length = end

    def _reserve(self, like: Any, needed: int) -> None:
        import torch

        have = 0 if self.raw_keys is None else self.raw_keys.shape[2]
        if needed <= have:
            return
        w = self.runtime.settings.chunk
        # Room for the prompt plus some decoding, rounded to whole chunks (views per chunk need it);
        # growth by a quarter keeps a 32K-token cache from doubling to 64K.
        size = max(needed + 4 * w, have + have // 4)
        size = -(-size // w) * w
        b, kv, _, d = like.shape
        buffers = []
        for old in (self.raw_keys, self.local_keys, self.value_cache):
            new = torch.zeros(b, kv, size, d, dtype=like.dtype, device=like.device)
            if old is not None:
                new[:, :, : self.length] = old[:, :, : self.length]
            buffers.append(new)
        self.raw_keys, self.local_keys, self.value_cache = buffers

    def absorb_queries(self, raw_queries: Any, scale: float) -> None:
        """Take the raw queries of the tokens just appended; represent every chunk that is now complete."""
        import torch

        pending = (
            raw_queries if self.pending_queries is None else torch.cat([self.pending_queries, raw_queries], 2)
        )
        w = self.runtime.settings.chunk
        new = self.length // w - self.done
        if new > 0:
            b, h, _, d = pending.shape
            kv = self.local_keys.shape[1]
            first, last = self.done * w, (self.done + new) * w
            offsets = torch.arange(w, device=pending.device)
            q_local = self.runtime.rope.rotate(pending[:, :, : new * w].reshape(b, h, new, w, d), offsets)
            keys = self.local_keys[:, :, first:last].reshape(b, kv, new, w, d)
            values = self.value_cache[:, :, first:last].reshape(b, kv, new, w, d)
            reps = chunk_representations(q_local, keys, values, scale)
            self._store_chunk_keys(reps)
            pending = pending[:, :, new * w :]
        self.pending_queries = pending.clone() if pending.shape[2] else None

    def _store_chunk_keys(self, reps: Any) -> None:
        import torch

        b, h, n, d = reps.shape
        have = 0 if self.chunk_keys is None else self.chunk_keys.shape[2]
        if self.done + n > have:
            size = max(self.done + n + 16, have + have // 4)
            grown = torch.zeros(b, h, size, d, dtype=reps.dtype, device=reps.device)
            if self.chunk_keys is not None:
                grown[:, :, : self.done] = self.chunk_keys[:, :, : self.done]
            self.chunk_keys = grown
        self.chunk_keys[:, :, self.done : self.done + n] = reps
        self.done += n


def _positions(position_ids: Any, start: int, count: int) -> Any:
    """Positions of the new tokens, checked to continue the cached sequence in every row."""
    import torch

    if position_ids is None:
        return torch.arange(start, start + count)
    row = position_ids[0]
    expected = torch.arange(start, start + count, device=row.device)
    if row.shape[0] != count or not bool((position_ids == expected).all()):
        raise ModelRequestError(
            "LongHeads attention needs unpadded sequences whose positions continue the cache "
            f"(expected {start}..{start + count - 1}); generate one sequence at a time or without padding"
        )
    return row


class LongHeadsCache(Cache):
    """A transformers `Cache` of `LongHeadsLayer`s for a model switched to LongHeads attention.

    `generate` on such a model creates one itself; pass one explicitly as `cache=` to a
    plain forward that should continue later.

    Args:
        model: a model prepared by `phalanx.models.longheads.install_longheads`.
    """

    def __init__(self, model: Any) -> None:
        runtime = find_runtime(model)
        super().__init__(layers=[LongHeadsLayer(runtime) for _ in range(model.config.num_hidden_layers)])

    def crop(self, tokens_to_remove: int) -> None:
        raise ModelRequestError("a LongHeads cache cannot be cropped")


def find_runtime(model: Any) -> LongHeadsRuntime:
    """The `LongHeadsRuntime` that `install_longheads` attached to `model`'s attention modules."""
    for module in model.modules():
        runtime = getattr(module, "longheads_runtime", None)
        if isinstance(runtime, LongHeadsRuntime):
            return runtime
    raise ModelRequestError(
        "this model has no LongHeads attention; prepare it with install_longheads(model, ...)"
    )
