"""LongHeads attention (Lu et al. 2024, "LongHeads: Multi-Head Attention is Secretly a Long
Context Processor"), re-implemented on PyTorch SDPA and matmuls: no CUDA or flash-attn needed.

For a query at position `t` with `budget = N * chunk`:

* `t < budget`: ordinary causal attention at the original positions.
* otherwise, with `c = t // chunk` its chunk and `o = t % chunk` its offset, each head on
  its own keeps chunk 0, the `N - 3` chunks among `1..c-2` whose representative keys score
  highest against the query *without* RoPE (no softmax, no scaling — official
  `global_qk`), the previous chunk `c - 1`, and its own chunk up to itself. In their
  original order the selected keys take contiguous positions `0..R-1` and the query
  `R-1`, `R = (N-1)·chunk + o + 1 <= budget`, so no position exceeds the budget.

One rule serves prefill and decoding, so a prompt prefilled at once gives the same
outputs as feeding it token by token. Two places differ from the official code on
purpose: its batched prefill leaves the query's own key out (an off-by-one), and its
decoding step that completes a chunk keeps `N - 1` chunks instead of `N`.

Scores against a selected chunk at rank `r` are `rot(q, (N-1-r)·chunk + o) · local_key`
(RoPE is relative), so keys are never re-rotated. Prefill processes queries in blocks and
groups the (query, head, rank) entries by the chunk they read, so each chunk's keys are
read once per block by one matmul instead of being gathered once per query.
"""

from __future__ import annotations

from typing import Any

from phalanx.models.errors import ModelRequestError
from phalanx.models.longheads.cache import LongHeadsLayer, LongHeadsRuntime

ATTENTION_NAME = "phalanx_longheads"

BLOCK_TOKENS = 1024
"""Queries per prefill block (bounds the block's score tensor to ~150 MB for 9 heads, budget 4096)."""


def longheads_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """transformers attention function (registered as `phalanx_longheads`); returns `(B, T, H, d)`."""
    runtime: LongHeadsRuntime | None = getattr(module, "longheads_runtime", None)
    if runtime is None:
        raise ModelRequestError(
            "LongHeads attention on a module without settings; use install_longheads(model)"
        )
    t = query.shape[2]
    if isinstance(key, LongHeadsLayer):
        layer = key
    elif key.shape[2] == t:  # a whole sequence in one forward, no cache: a throwaway layer
        layer = LongHeadsLayer(runtime)
        layer.update(key, value, kwargs=kwargs)
    else:
        raise ModelRequestError(
            "LongHeads attention needs its own cache to continue a sequence: pass "
            "cache=LongHeadsCache(model) (generate does this by itself)"
        )
    start = layer.length - t
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    import torch

    positions = torch.arange(start, layer.length, device=query.device)
    raw_q = runtime.rope.unrotate(query, positions)
    layer.absorb_queries(raw_q, scale)
    out = attend(layer, raw_q, start, scale)
    return out.transpose(1, 2).contiguous(), None


def attend(layer: LongHeadsLayer, raw_q: Any, start: int, scale: float) -> Any:
    """Outputs `(B, H, T, d)` of the queries at `start..start+T-1` (keys already in `layer`)."""
    budget = layer.runtime.settings.budget
    t = raw_q.shape[2]
    ordinary = max(0, min(t, budget - start))
    parts = []
    if ordinary:
        q = raw_q[:, :, :ordinary]
        parts.append(
            _ordinary_step(layer, q, start, scale) if ordinary == 1 else _ordinary(layer, q, start, scale)
        )
    first = start + ordinary
    for block_start in range(first, start + t, BLOCK_TOKENS):
        block_end = min(start + t, block_start + BLOCK_TOKENS)
        q = raw_q[:, :, block_start - start : block_end - start]
        run = _selective_step if block_end - block_start == 1 else _selective_block
        parts.append(run(layer, q, block_start, scale))
    import torch

    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


def _ordinary(layer: LongHeadsLayer, q: Any, start: int, scale: float) -> Any:
    """Causal attention at original positions for several queries (prefill): SDPA over rotated keys."""
    import torch
    import torch.nn.functional as F

    rope = layer.runtime.rope
    end = start + q.shape[2]
    keys = rope.rotate(layer.raw_keys[:, :, :end], torch.arange(end, device=q.device))
    values = layer.value_cache[:, :, :end]
    q_rot = rope.rotate(q, torch.arange(start, end, device=q.device))
    keys, values = _expand_kv(keys, q.shape[1]), _expand_kv(values, q.shape[1])
    if start == 0:
        return F.scaled_dot_product_attention(q_rot, keys, values, is_causal=True, scale=scale)
    rows = torch.arange(start, end, device=q.device).unsqueeze(1)
    mask = torch.arange(end, device=q.device).unsqueeze(0) <= rows
    return F.scaled_dot_product_attention(q_rot, keys, values, attn_mask=mask, scale=scale)


def _ordinary_step(layer: LongHeadsLayer, q: Any, t: int, scale: float) -> Any:
    """Causal attention of one query at original positions, reading the chunk-local keys in place."""
    import torch

    w, rope = layer.runtime.settings.chunk, layer.runtime.rope
    b, h, _, d = q.shape
    kv = layer.local_keys.shape[1]
    g, c, o = h // kv, t // w, t % w
    own_q = rope.rotate(q[:, :, 0], torch.tensor(o, device=q.device)).view(b, kv, g, 1, d)
    own_k = layer.local_keys[:, :, c * w : t + 1].unsqueeze(2)  # (B, K, 1, o+1, d)
    own_v = layer.value_cache[:, :, c * w : t + 1].unsqueeze(2)
    own_s = (own_q @ own_k.transpose(-1, -2)).view(b, kv, g, o + 1)
    if c == 0:
        probs = torch.softmax(own_s * scale, dim=-1)
        return (probs.unsqueeze(3) @ own_v).view(b, h, 1, d)
    # Chunk j sits at its own position j*w: rotate the query back by j*w against the local keys.
    shifts = t - torch.arange(c, device=q.device) * w
    ranked = rope.rotate(q[:, :, 0].unsqueeze(2), shifts)  # (B, H, c, d)
    ranked = ranked.view(b, kv, g, c, d).transpose(2, 3)  # (B, K, c, G, d)
    keys = layer.local_keys[:, :, : c * w].view(b, kv, c, w, d)
    values = layer.value_cache[:, :, : c * w].view(b, kv, c, w, d)
    full_s = (ranked @ keys.transpose(-1, -2)).transpose(2, 3).reshape(b, kv, g, c * w)
    probs = torch.softmax(torch.cat([full_s, own_s], dim=-1) * scale, dim=-1)
    full_p = probs[..., : c * w].reshape(b, kv, g, c, w).transpose(2, 3)  # (B, K, c, G, w)
    out = (full_p @ values).sum(dim=2) + (probs[..., c * w :].unsqueeze(3) @ own_v).squeeze(3)
    return out.view(b, h, 1, d)


def select_chunks(raw_q: Any, chunk_keys: Any, positions: Any, settings: Any) -> Any:
    """Chunk indices every head keeps for each query: `(B, H, T, N-1)`, ascending.

    Args:
        raw_q: queries without RoPE, `(B, H, T, d)`.
        chunk_keys: representative keys `(B, H, C, d)` (at least the chunks before each query's
            previous chunk).
        positions: `(T,)` absolute positions of the queries (each `>= budget`).
        settings: the `LongHeadsSettings`.

    Chunk 0 and the previous chunk `c - 1` are always kept; the `N - 3` others are the
    top scores `q · chunk_key` among chunks `1..c-2` (official: `topk(atten_chunk_num - 3)`
    over `chunk_features_key[:, :, 1:-1]`).
    """
    import torch

    w, n = settings.chunk, settings.chunks
    own = positions // w  # (T,)
    span = int(own.max()) - 1  # chunks 0..c-2 can be candidates
    scores = torch.einsum("bhtd,bhcd->bhtc", raw_q, chunk_keys[:, :, :span])
    index = torch.arange(span, device=raw_q.device)
    allowed = (index >= 1) & (index.unsqueeze(0) <= (own - 2).unsqueeze(1))  # (T, span)
    scores = scores.masked_fill(~allowed, float("-inf"))
    top = torch.topk(scores, n - 3, dim=-1).indices.sort(dim=-1).values
    b, h, t, _ = top.shape
    first = torch.zeros(b, h, t, 1, dtype=top.dtype, device=top.device)
    previous = (own - 1).view(1, 1, t, 1).expand(b, h, t, 1).to(top.dtype)
    return torch.cat([first, top, previous], dim=-1)


def _block_ids(layer: LongHeadsLayer, chunks: Any, heads: int) -> Any:
    """Row index into `local_keys.view(B*K*cap_chunks, chunk, d)` of each selected chunk."""
    import torch

    b, kv, cap, _ = layer.local_keys.shape
    per_row = cap // layer.runtime.settings.chunk
    group = heads // kv
    kv_row = (
        torch.arange(b, device=chunks.device).view(b, 1) * kv
        + torch.arange(heads, device=chunks.device) // group
    )
    return kv_row.view(b, heads, 1, 1) * per_row + chunks


def _selective_step(layer: LongHeadsLayer, q: Any, t: int, scale: float) -> Any:
    """One decoding query past the budget: gather each head's selected chunks and attend."""
    import torch

    settings, rope = layer.runtime.settings, layer.runtime.rope
    w, n = settings.chunk, settings.chunks - 1
    b, h, _, d = q.shape
    kv = layer.local_keys.shape[1]
    g, c, o = h // kv, t // w, t % w
    positions = torch.tensor([t], device=q.device)
    chosen = select_chunks(q, layer.chunk_keys, positions, settings)  # (B, H, 1, n)
    ids = _block_ids(layer, chosen, h).flatten()
    keys = layer.local_keys.view(-1, w, d).index_select(0, ids)  # (B*H*n, w, d)
    values = layer.value_cache.view(-1, w, d).index_select(0, ids)
    shifts = (n - torch.arange(n, device=q.device)) * w + o
    ranked = rope.rotate(q[:, :, 0].unsqueeze(2), shifts).reshape(-1, 1, d)  # (B*H*n, 1, d)
    full_s = torch.bmm(ranked, keys.transpose(1, 2)).view(b, h, n * w)
    own_q = rope.rotate(q[:, :, 0], torch.tensor(o, device=q.device)).view(b, kv, g, 1, d)
    own_k = layer.local_keys[:, :, c * w : t + 1].unsqueeze(2)
    own_v = layer.value_cache[:, :, c * w : t + 1].unsqueeze(2)
    own_s = (own_q @ own_k.transpose(-1, -2)).view(b, h, o + 1)
    probs = torch.softmax(torch.cat([full_s, own_s], dim=-1) * scale, dim=-1)
    full = torch.bmm(probs[..., : n * w].reshape(-1, 1, w), values).view(b, h, n, d).sum(dim=2)
    own = (probs[..., n * w :].reshape(b, kv, g, 1, o + 1) @ own_v).view(b, h, d)
    return (full + own).unsqueeze(2)


def _selective_block(layer: LongHeadsLayer, q: Any, start: int, scale: float) -> Any:
    """Many queries past the budget (prefill), each with its own selection, grouped by chunk read.

    Entries `(query, head, rank)` are sorted by the chunk they read; scores, the softmax
    and the weighted values stay in that order (the softmax's max and sum are reduced
    per query with scatter ops), so no score tensor is ever permuted back.
    """
    import torch

    settings, rope = layer.runtime.settings, layer.runtime.rope
    w, n = settings.chunk, settings.chunks - 1
    b, h, t, d = q.shape
    positions = torch.arange(start, start + t, device=q.device)
    chosen = select_chunks(q, layer.chunk_keys, positions, settings)  # (B, H, T, n)
    ids = _block_ids(layer, chosen, h).flatten()
    shifts = (n - torch.arange(n, device=q.device)).unsqueeze(0) * w + (positions % w).unsqueeze(1)  # (T, n)
    scaled = q * scale  # RoPE is linear: scaling the query scales every score
    order = torch.argsort(ids, stable=True)
    owner = order // n  # entry (row, rank) -> row = query-head pair
    sorted_q = rope.rotate(scaled.unsqueeze(3), shifts).reshape(-1, d).index_select(0, order)
    groups, counts = torch.unique_consecutive(ids.index_select(0, order), return_counts=True)
    spans = list(zip(groups.tolist(), counts.tolist(), strict=True))
    keys = layer.local_keys.view(-1, w, d)
    values = layer.value_cache.view(-1, w, d)
    scores = sorted_q.new_empty(sorted_q.shape[0], w)
    at = 0
    for block, count in spans:  # one matmul per chunk read (a few hundred per block at 32K)
        torch.mm(sorted_q[at : at + count], keys[block].T, out=scores[at : at + count])
        at += count
    del sorted_q

    own_scores, own_values = _own_chunk_scores(layer, scaled, start, positions)
    own_scores = own_scores.view(b * h * t, w)
    top = own_scores.amax(dim=1).scatter_reduce(0, owner, scores.amax(dim=1), reduce="amax")
    scores.sub_(top.index_select(0, owner).unsqueeze(1)).exp_()
    own_scores.sub_(top.unsqueeze(1)).exp_()
    total = own_scores.sum(dim=1).index_add_(0, owner, scores.sum(dim=1))
    mixed = scores.new_empty(scores.shape[0], d)
    at = 0
    for block, count in spans:
        torch.mm(scores[at : at + count], values[block], out=mixed[at : at + count])
        at += count
    del scores
    own_p = own_scores.view(b, h, t, w)
    out = torch.empty(b, h, t, d, dtype=q.dtype, device=q.device)
    for lo, hi, v in own_values:
        out[:, :, lo:hi] = own_p[:, :, lo:hi, : v.shape[-2]] @ v
    out = out.view(-1, d).index_add_(0, owner, mixed)
    return (out / total.unsqueeze(1)).view(b, h, t, d)


def _own_chunk_scores(layer: LongHeadsLayer, q: Any, start: int, positions: Any) -> tuple[Any, list]:
    """Causal scores of each query against its own chunk (rank N-1, query at its chunk offset).

    Returns the scores `(B, H, T, chunk)` (masked keys at -inf) and, per own chunk, the
    query rows `lo:hi` it covers and its values expanded to the query heads.
    """
    import torch

    w, rope = layer.runtime.settings.chunk, layer.runtime.rope
    b, h, t, d = q.shape
    kv = layer.local_keys.shape[1]
    g = h // kv
    own_q = rope.rotate(q, positions % w)
    scores = q.new_full((b, h, t, w), float("-inf"))
    values: list[tuple[int, int, Any]] = []
    first_chunk, last_chunk = int(positions[0]) // w, int(positions[-1]) // w
    for c in range(first_chunk, last_chunk + 1):
        lo = max(start, c * w) - start
        hi = min(start + t, (c + 1) * w) - start
        end = min(layer.length, (c + 1) * w)
        keys = layer.local_keys[:, :, c * w : end].unsqueeze(2)  # (B, K, 1, L, d)
        s = (own_q[:, :, lo:hi].reshape(b, kv, g, hi - lo, d) @ keys.transpose(-1, -2)).view(
            b, h, hi - lo, -1
        )
        offsets = positions[lo:hi] % w
        visible = torch.arange(end - c * w, device=q.device).unsqueeze(0) <= offsets.unsqueeze(1)
        scores[:, :, lo:hi, : end - c * w] = s.masked_fill(~visible, float("-inf"))
        v = layer.value_cache[:, :, c * w : end]
        values.append((lo, hi, _expand_kv(v, h)))
    return scores, values


def _expand_kv(x: Any, heads: int) -> Any:
    """Key/value heads repeated for their query heads (grouped-query attention)."""
    kv = x.shape[1]
    return x if kv == heads else x.repeat_interleave(heads // kv, dim=1)
