"""A KV-cache store for prompt prefixes, in blocks, as vLLM's automatic prefix caching does.

Prompts are cut into blocks of `block_tokens` tokens. A block is named by a chained
hash of its tokens and every token before it, so equal hashes mean equal prefixes
(the same system prompt and tool list, the earlier turns of the same conversation).
After a prompt is prefilled, its full blocks' keys and values are stored; a later
prompt reuses the longest chain of stored blocks from its start and prefills only the
rest. Blocks are evicted least-recently-used within a byte budget; touching a block
touches the whole chain before it, so chains are evicted from their tails.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

BlockKV = list[tuple[Any, Any]]
"""Per layer: (keys, values), each `(kv_heads, block_tokens, head_dim)`."""


def _nbytes(block: BlockKV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in block)


def block_hashes(tokens: list[int], block_tokens: int) -> list[int]:
    """Chained hashes of the full blocks of `tokens` (a partial last block has none)."""
    out: list[int] = []
    parent = 0
    for start in range(0, len(tokens) - block_tokens + 1, block_tokens):
        parent = hash((parent, tuple(tokens[start : start + block_tokens])))
        out.append(parent)
    return out


@dataclass
class PrefixCacheStats:
    """What the store holds and has dropped (for benchmarks and tests)."""

    stored_blocks: int = 0
    evicted_blocks: int = 0


class PrefixCache:
    """Block store of prompt-prefix keys and values.

    Args:
        block_tokens: tokens per block.
        budget_bytes: most bytes of stored keys and values (0 disables storing).
    """

    def __init__(self, block_tokens: int = 32, budget_bytes: int = 1 << 30) -> None:
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
        self.block_tokens = block_tokens
        self.budget_bytes = budget_bytes
        self._blocks: OrderedDict[int, BlockKV] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = PrefixCacheStats()

    @property
    def enabled(self) -> bool:
        return self.budget_bytes > 0

    @property
    def used_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._blocks)

    def match(self, hashes: list[int]) -> int:
        """How many leading blocks of the chain `hashes` are stored (touching them)."""
        n = 0
        with self._lock:
            for h in hashes:
                if h not in self._blocks:
                    break
                self._blocks.move_to_end(h)
                n += 1
        return n

    def gather(self, hashes: list[int]) -> list[tuple[Any, Any]] | None:
        """Keys and values of the stored chain `hashes`, per layer `(1, kv_heads, n, head_dim)`.

        Returns None when a block was evicted since `match` (the caller prefills instead).
        """
        import torch

        with self._lock:
            blocks = [self._blocks.get(h) for h in hashes]
        if not blocks or any(b is None for b in blocks):
            return None
        layers = len(blocks[0])  # type: ignore[arg-type]
        out = []
        for layer in range(layers):
            keys = torch.cat([b[layer][0] for b in blocks], dim=1).unsqueeze(0)  # type: ignore[index]
            values = torch.cat([b[layer][1] for b in blocks], dim=1).unsqueeze(0)  # type: ignore[index]
            out.append((keys, values))
        return out

    def store(self, hashes: list[int], layer_kv: list[tuple[Any, Any]]) -> int:
        """Store the blocks named by `hashes` (a run of consecutive blocks of one chain).

        Args:
            hashes: chained hashes of the blocks to store, in order.
            layer_kv: per layer (keys, values) `(kv_heads, tokens, head_dim)` whose token 0 is
                the first token of `hashes[0]`'s block; at least `len(hashes) * block_tokens` tokens.

        Returns:
            Blocks newly stored (blocks already present are only touched).
        """
        if not self.enabled:
            return 0
        added = 0
        bt = self.block_tokens
        for i, h in enumerate(hashes):
            with self._lock:
                if h in self._blocks:
                    self._blocks.move_to_end(h)
                    continue
            block = [
                (k[:, i * bt : (i + 1) * bt].clone(), v[:, i * bt : (i + 1) * bt].clone())
                for k, v in layer_kv
            ]
            size = _nbytes(block)
            if size > self.budget_bytes:
                break
            with self._lock:
                self._blocks[h] = block
                self._bytes += size
                added += 1
                while self._bytes > self.budget_bytes and self._blocks:
                    _, old = self._blocks.popitem(last=False)
                    self._bytes -= _nbytes(old)
                    self.stats.evicted_blocks += 1
        self.stats.stored_blocks += added
        return added

    def clear(self) -> None:
        """Drop every stored block (after the weights changed, say)."""
        with self._lock:
            self._blocks.clear()
            self._bytes = 0
