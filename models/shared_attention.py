"""Attention over a KV slot pool with shared prompt prefixes, plugged into transformers.

The generation engine (`phalanx.models.engine`) keeps every running row's keys and
values in a preallocated slot pool and every shared prefix (a system prompt and tool
list many rows start with) once. A row's attention is split in two parts and merged
exactly with their log-sum-exps (as in Hydragen, Juravsky et al. 2024, and cascade
attention): all queries of a prefix group attend to the group's prefix in one batched
call that reads the prefix keys once, and each row attends to its own private keys.
Decoding 32 rows that share a 1,500-token prompt thus reads the prompt's keys once per
step instead of 32 times.

It plugs into transformers through its public extension points: an attention function
registered with `AttentionInterface` (the model is switched to it at load time and it
falls back to sdpa whenever no engine pass is running, so `generate`, training and
plain forwards behave as before) and a cache object whose `update` writes the new keys
and values into the pool. The engine checks at load time that a model computes the
same logits this way as with plain attention (`self_test`) and otherwise falls back to
batched `generate`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ATTENTION_NAME = "phalanx_shared_prefix"

_local = threading.local()


@dataclass
class PrefixKV:
    """Keys and values of one shared prefix: per layer `(1, kv_heads, length, head_dim)`."""

    layers: list[tuple[Any, Any]]
    length: int
    chain: int = 0
    """Hash of the prefix's last block (its identity)."""
    users: int = 0
    """Running rows that attend to it."""


class SlotPool:
    """Preallocated per-layer key/value buffers: one slot (row) per running request.

    Buffers are `(slots, kv_heads, capacity, head_dim)` and grow by doubling when a
    longer row arrives. Running rows occupy slots `0..n-1` (the engine compacts on
    retirement), so a decode step reads `[:n, :, :length]` views without copying.
    """

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype: Any, device: Any) -> None:
        self.n_layers = layers
        self.kv_heads = kv_heads
        self.head_dim = head_dim
        self.dtype = dtype
        self.device = device
        self.slots = 0
        self.capacity = 0
        self.keys: list[Any] = []
        self.values: list[Any] = []

    def reserve(self, slots: int, length: int) -> None:
        """Make room for `slots` rows of `length` tokens (existing contents are kept)."""
        import torch

        if slots <= self.slots and length <= self.capacity:
            return
        new_slots = max(slots, self.slots)
        new_cap = max(self.capacity, 64)
        while new_cap < length:
            new_cap *= 2
        shape = (new_slots, self.kv_heads, new_cap, self.head_dim)
        keys, values = [], []
        for layer in range(self.n_layers):
            k = torch.zeros(shape, dtype=self.dtype, device=self.device)
            v = torch.zeros(shape, dtype=self.dtype, device=self.device)
            if self.slots and self.capacity:
                k[: self.slots, :, : self.capacity] = self.keys[layer]
                v[: self.slots, :, : self.capacity] = self.values[layer]
            keys.append(k)
            values.append(v)
        self.keys, self.values = keys, values
        self.slots, self.capacity = new_slots, new_cap

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy slot `src`'s first `length` positions into slot `dst`."""
        if src == dst or length <= 0:
            return
        for layer in range(self.n_layers):
            self.keys[layer][dst, :, :length] = self.keys[layer][src, :, :length]
            self.values[layer][dst, :, :length] = self.values[layer][src, :, :length]

    def load(self, slot: int, offset: int, layer_kv: list[tuple[Any, Any]]) -> None:
        """Write per-layer `(1, kv_heads, n, head_dim)` keys/values into `slot` from `offset`."""
        for layer, (k, v) in enumerate(layer_kv):
            n = k.shape[2]
            self.keys[layer][slot, :, offset : offset + n] = k[0]
            self.values[layer][slot, :, offset : offset + n] = v[0]

    def export(self, slot: int, start: int, end: int) -> list[tuple[Any, Any]]:
        """Per layer `(kv_heads, end-start, head_dim)` views of `slot`'s positions."""
        return [
            (self.keys[i][slot, :, start:end], self.values[i][slot, :, start:end])
            for i in range(self.n_layers)
        ]


@dataclass
class ForwardPlan:
    """What one engine forward pass attends to (set for the pass, read by every layer)."""

    pool: SlotPool
    slots: Any | None
    """Slot index of each row of the pass `(rows,)`, or None for slots `0..rows-1`."""
    write_pos: Any
    """`(rows, T)` slot positions where the pass's new keys and values go."""
    kv_len: int
    """Private positions visible to some query of the pass (the attention reads `[:kv_len]`)."""
    mask: Any
    """`(rows, 1, T, kv_len)` additive mask of the private part (causal and per-row length)."""
    groups: list[tuple[Any, PrefixKV]] = field(default_factory=list)
    """(row indices within the pass, shared prefix) for every prefix group of the pass."""
    _expanded: dict[int, Any] = field(default_factory=dict)

    def mask_for(self, groups_per_kv: int) -> Any:
        """The mask with every query repeated for the query heads of one key/value head."""
        hit = self._expanded.get(groups_per_kv)
        if hit is None:
            rows, _, t, s = self.mask.shape
            if t == 1:
                hit = self.mask  # broadcasts over the query axis
            else:
                hit = self.mask.unsqueeze(2).expand(rows, 1, groups_per_kv, t, s).reshape(rows, 1, -1, s)
            self._expanded[groups_per_kv] = hit
        return hit

    def private_kv(self, layer: int) -> tuple[Any, Any]:
        keys, values = self.pool.keys[layer], self.pool.values[layer]
        if self.slots is None:
            rows = self.write_pos.shape[0]
            return keys[:rows, :, : self.kv_len], values[:rows, :, : self.kv_len]
        return (
            keys.index_select(0, self.slots)[:, :, : self.kv_len],
            values.index_select(0, self.slots)[:, :, : self.kv_len],
        )


class PoolCache:
    """The cache object handed to the model: `update` writes into the slot pool."""

    is_compileable = False

    def __init__(self, plan: ForwardPlan) -> None:
        self.plan = plan

    def update(self, key_states: Any, value_states: Any, layer_idx: int, *args: Any, **kwargs: Any) -> Any:
        plan = self.plan
        rows = key_states.shape[0]
        slots = plan.slots if plan.slots is not None else _arange(rows, key_states.device)
        index = (slots.unsqueeze(1), slice(None), plan.write_pos)
        plan.pool.keys[layer_idx][index] = key_states.transpose(1, 2).to(plan.pool.dtype)
        plan.pool.values[layer_idx][index] = value_states.transpose(1, 2).to(plan.pool.dtype)
        return key_states, value_states

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return 0

    def get_mask_sizes(self, query_length: int, layer_idx: int = 0) -> tuple[int, int]:
        return query_length, 0

    def get_query_offset(self, layer_idx: int = 0) -> int:
        return 0


def _arange(n: int, device: Any) -> Any:
    import torch

    return torch.arange(n, device=device)


def attend(query: Any, keys: Any, values: Any, mask: Any | None, scale: float) -> tuple[Any, Any]:
    """Attention output and log-sum-exp of `query` `(B, H, Q, D)` over `keys`/`values` `(B, H, S, D)`."""
    import torch

    if query.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, keys, values, 0.0, False, attn_mask=mask, scale=scale
        )
        return out, lse
    # Other devices: exact attention with an explicit log-sum-exp (correct, not fused).
    scores = torch.matmul(query.float(), keys.float().transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores + mask.float()
    lse = torch.logsumexp(scores, dim=-1)
    out = torch.matmul(torch.softmax(scores, dim=-1), values.float()).to(query.dtype)
    return out, lse


def shared_prefix_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """transformers attention function: the engine's split attention, or sdpa outside a pass."""
    plan: ForwardPlan | None = getattr(_local, "plan", None)
    if plan is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    import torch

    layer = module.layer_idx
    rows, q_heads, t, dim = query.shape
    scale = scaling if scaling is not None else dim**-0.5
    keys, values = plan.private_kv(layer)
    kv_heads = keys.shape[1]
    groups = q_heads // kv_heads
    q = query.reshape(rows, kv_heads, groups * t, dim).to(keys.dtype)
    out, lse = attend(q, keys, values, plan.mask_for(groups).to(keys.dtype), scale)
    for index, prefix in plan.groups:
        pk, pv = prefix.layers[layer]
        sub = q.index_select(0, index)
        b = sub.shape[0]
        flat = sub.permute(1, 0, 2, 3).reshape(1, kv_heads, b * groups * t, dim)
        out_p, lse_p = attend(flat, pk, pv, None, scale)
        out_p = out_p.reshape(kv_heads, b, groups * t, dim).permute(1, 0, 2, 3)
        lse_p = lse_p.reshape(kv_heads, b, groups * t).permute(1, 0, 2)
        out_s, lse_s = out.index_select(0, index), lse.index_select(0, index)
        top = torch.maximum(lse_s, lse_p)
        w_s, w_p = torch.exp(lse_s - top), torch.exp(lse_p - top)
        total = w_s + w_p
        merged = (out_s * (w_s / total).unsqueeze(-1).to(out_s.dtype)) + (
            out_p * (w_p / total).unsqueeze(-1).to(out_p.dtype)
        )
        out = out.index_copy(0, index, merged)
        lse = lse.index_copy(0, index, top + torch.log(total))
    attn = out.reshape(rows, q_heads, t, dim).transpose(1, 2).to(query.dtype)
    return attn, None


class active_plan:  # noqa: N801 - used as a context manager, reads like one
    """Context manager: route this thread's forward passes through `plan`."""

    def __init__(self, plan: ForwardPlan) -> None:
        self.plan = plan

    def __enter__(self) -> ForwardPlan:
        _local.plan = self.plan
        return self.plan

    def __exit__(self, *exc: Any) -> None:
        _local.plan = None


def shared_prefix_mask(*args: Any, **kwargs: Any) -> Any:
    """transformers mask function: none inside an engine pass (the plan holds the mask), else sdpa's."""
    if getattr(_local, "plan", None) is not None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, **kwargs)


_registered = False
_register_lock = threading.Lock()


def install(model: Any) -> bool:
    """Register the attention function and switch `model` to it; False if the model refuses."""
    global _registered
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    with _register_lock:
        if not _registered:
            AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
            AttentionMaskInterface.register(ATTENTION_NAME, shared_prefix_mask)
            _registered = True
    try:
        model.set_attn_implementation(ATTENTION_NAME)
    except (ValueError, AttributeError, ImportError):
        return False
    return getattr(model.config, "_attn_implementation", None) == ATTENTION_NAME
