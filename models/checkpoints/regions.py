"""`regions:PATH`: a model further trained with a linguistic region frozen, and that region's mask.

Zhang et al. 2024 ("Unveiling Linguistic Regions in Large Language Models", official
`region_freeze_train.py`) score every weight element by |grad ⊙ param| summed over
languages, keep the top 1% per matrix of the transformer blocks as the "core linguistic
region", and restore those elements after each optimizer step while training on. The
checkpoint stores the weights, the boolean mask per parameter (`region_mask.safetensors`,
tensors named like the parameters) and how the mask was made (`extras.region`). The
loader checks every mask against the weight of the same name and exposes it as
`model.region_mask`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from phalanx.models.base import register_backend
from phalanx.models.checkpoints.format import MANIFEST, open_checkpoint, save_checkpoint
from phalanx.models.errors import CheckpointError
from phalanx.models.hf import HFChatModel

FORMAT = "phalanx.regions"
MASK_FILE = "region_mask.safetensors"


class RegionInfo(BaseModel):
    """How a region mask was made (`extras.region` of the manifest)."""

    model_config = ConfigDict(extra="allow")

    method: str = "grad_x_param"
    """Importance score: `grad_x_param` (|grad ⊙ param|, the paper's) or another named method."""
    selection: str = "top"
    """`top`, `bottom` or `random` (the official controls)."""
    fraction: float = 0.01
    """Share of each matrix's elements in the region (the paper's core region: 0.01)."""
    languages: list[str] = []
    """Languages whose gradients were accumulated."""


@dataclass
class RegionMask:
    """Boolean masks per parameter name (True = in the region) and how they were made."""

    masks: dict[str, Any]
    info: RegionInfo

    @property
    def fraction(self) -> float:
        """Share of the masked parameters' elements that are in the region."""
        total = sum(m.numel() for m in self.masks.values())
        return float(sum(int(m.sum()) for m in self.masks.values()) / total) if total else 0.0

    def save(self, path: Path) -> None:
        """Write the masks as a safetensors file (bool tensors)."""
        from safetensors.torch import save_file

        save_file({name: m.bool().contiguous() for name, m in self.masks.items()}, str(path))

    @classmethod
    def load(cls, path: Path, info: RegionInfo) -> RegionMask:
        """Read masks written by `save`.

        Raises:
            CheckpointError: unreadable file or a non-boolean tensor.
        """
        import torch
        from safetensors.torch import load_file

        try:
            masks = load_file(str(path))
        except Exception as exc:  # safetensors' own error types for damaged files
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
        for name, mask in masks.items():
            if mask.dtype != torch.bool:
                raise CheckpointError(f"{path}: mask {name!r} is {mask.dtype}, expected bool")
        return cls(masks, info)

    def check_against(self, model: Any, source: Path) -> None:
        """Raise `CheckpointError` unless every mask names a parameter of `model` and has its shape."""
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            weight = params.get(name)
            if weight is None:
                raise CheckpointError(f"{source}: mask {name!r} names no parameter of the model")
            if tuple(mask.shape) != tuple(weight.shape):
                raise CheckpointError(
                    f"{source}: mask {name!r} has shape {tuple(mask.shape)} but the weight is {tuple(weight.shape)}"
                )


def save_regions_checkpoint(
    directory: Any, model: Any, tokenizer: Any, mask: RegionMask, **kwargs: Any
) -> Any:
    """Write a region-frozen checkpoint (weights, mask, metadata) that `regions:DIRECTORY` loads.

    Raises:
        CheckpointError: the mask does not fit the model (checked before writing).
    """
    mask.check_against(model, Path(MASK_FILE))
    return save_checkpoint(
        directory,
        model=model,
        tokenizer=tokenizer,
        format=FORMAT,
        extras={"region": mask.info.model_dump()},
        extra_files={MASK_FILE: mask.save},
        **kwargs,
    )


class RegionsChatModel(HFChatModel):
    """An `HFChatModel` whose weights came with a region mask (`region_mask`)."""

    region_mask: RegionMask


def load_regions_model(target: str) -> RegionsChatModel:
    """Load `regions:PATH?hf-options`.

    Raises:
        CheckpointError: not a regions checkpoint, damaged files, or a mask that does not
            match the weights.
    """
    opened = open_checkpoint(target, FORMAT)
    info = opened.extras("region", RegionInfo)
    mask_path = opened.path / MASK_FILE
    if MASK_FILE not in opened.manifest.files:
        raise CheckpointError(f"{mask_path}: a regions checkpoint needs it, and {MANIFEST} does not list it")
    mask = RegionMask.load(mask_path, info)
    mask.check_against(opened.model, mask_path)
    model = RegionsChatModel(opened.model, opened.tokenizer, **opened.chat_options)
    model.region_mask = mask
    return model


@register_backend("regions")
def _load(target: str) -> RegionsChatModel:
    return load_regions_model(target)
