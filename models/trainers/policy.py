"""Loading a model to train from a phalanx model spec (`hf:NAME`, `hf:DIR`, `r3:DIR`, or a bare path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phalanx.models.errors import ModelSpecError

TRAINABLE_SCHEMES = ("hf", "r3")
"""Specs a trainer starts from: a model (store name or directory) or an earlier R³ checkpoint."""


def load_trainable(spec: str, *, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """`(model, tokenizer)` for training, from `hf:NAME|DIR`, `r3:DIR` or a bare directory / store name.

    Weights load in `dtype` (float32 by default: bfloat16 Adam updates on CPU lose small steps).

    Raises:
        ModelSpecError: another scheme, or nothing loadable there.
        CheckpointError: an `r3:` checkpoint that fails its manifest checks.
    """
    from phalanx.models.hf import load_pretrained

    scheme, sep, rest = spec.partition(":")
    if sep and len(scheme) > 1 and scheme not in TRAINABLE_SCHEMES:
        raise ModelSpecError(
            f"cannot train {spec!r}: trainers start from {', '.join(s + ':' for s in TRAINABLE_SCHEMES)} "
            "specs (a local model directory, a store name, or an R³ checkpoint)"
        )
    target = rest if sep and len(scheme) > 1 else spec
    if scheme == "r3":
        from phalanx.models.checkpoints.format import read_checkpoint

        read_checkpoint(Path(target).expanduser(), "phalanx.r3")
    return load_pretrained(Path(target).expanduser(), device, dtype)
