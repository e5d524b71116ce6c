"""Rotary position embedding tables for LongHeads: rotate and un-rotate at any position.

LongHeads re-positions keys at attention time (LongHeads, Lu et al. 2024, §3.2), so it
must remove the rotation the model applied at a token's original position and apply
another one. The table reuses the model's own rotary module (`model.model.rotary_emb`),
so every RoPE variant transformers implements (theta, linear or NTK scaling, an
attention scaling factor) is honoured without re-deriving it.
"""

from __future__ import annotations

from typing import Any


def rotate_half(x: Any) -> Any:
    """`[-x2, x1]` for `x = [x1, x2]` split on the last axis (the rotation's partner coordinates)."""
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RopeTable:
    """Cosine/sine rows of the model's rotary embedding for positions `0..n-1`, grown on demand.

    Args:
        rotary_emb: the model's rotary module, called as `rotary_emb(x, position_ids)`
            and returning `(cos, sin)` of shape `(1, n, head_dim)`.
        dtype: dtype of the model's activations (the rotation is done in it, as the model does).
        device: where the tables live.
    """

    def __init__(self, rotary_emb: Any, dtype: Any, device: Any) -> None:
        self.rotary_emb = rotary_emb
        self.dtype = dtype
        self.device = device
        self.cos: Any = None
        self.sin: Any = None
        self.inverse_norm: Any = None
        """`1 / (cos² + sin²)`: undoes a rotary attention scaling factor when un-rotating."""

    def _ensure(self, n: int) -> None:
        import torch

        have = 0 if self.cos is None else self.cos.shape[0]
        if n <= have:
            return
        size = max(n, 2 * have, 1024)
        positions = torch.arange(size, device=self.device).unsqueeze(0)
        probe = torch.zeros(1, dtype=self.dtype, device=self.device)
        with torch.no_grad():
            cos, sin = self.rotary_emb(probe, positions)
        self.cos, self.sin = cos[0].to(self.dtype), sin[0].to(self.dtype)
        self.inverse_norm = 1.0 / (self.cos * self.cos + self.sin * self.sin)

    def rows(self, positions: Any) -> tuple[Any, Any]:
        """`(cos, sin)` gathered at `positions` (any shape; the result adds a `head_dim` axis)."""
        self._ensure(int(positions.max()) + 1 if positions.numel() else 1)
        return self.cos[positions], self.sin[positions]

    def rotate(self, x: Any, positions: Any) -> Any:
        """`x` rotated to `positions` (broadcast against `x` without its last axis)."""
        cos, sin = self.rows(positions)
        return x * cos + rotate_half(x) * sin

    def unrotate(self, x: Any, positions: Any) -> Any:
        """The inverse of `rotate`: recovers the projection before the model applied RoPE."""
        self._ensure(int(positions.max()) + 1 if positions.numel() else 1)
        cos, sin, norm = self.cos[positions], self.sin[positions], self.inverse_norm[positions]
        # R(p)^T undoes the rotation; dividing by cos²+sin² undoes a scaled table (YaRN-style factors).
        return (x * cos - rotate_half(x) * sin) * norm
