"""phalanx checkpoints: the on-disk format trainers write and the loaders `r3:`, `regions:`, `hag:` read.

See `phalanx.models.checkpoints.format` for the layout and manifest. Writers:
`save_r3_checkpoint`, `save_regions_checkpoint` (and `phalanx.models.hag.save_hag_checkpoint`);
readers: `load_model("r3:PATH")`, `load_model("regions:PATH")`.
"""

from phalanx.models.checkpoints.format import (
    FORMATS,
    MANIFEST,
    SCHEMES,
    FileEntry,
    Manifest,
    read_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from phalanx.models.checkpoints.r3 import PromptFormat, R3ChatModel, load_r3_model, save_r3_checkpoint
from phalanx.models.checkpoints.regions import (
    RegionInfo,
    RegionMask,
    RegionsChatModel,
    load_regions_model,
    save_regions_checkpoint,
)

__all__ = [
    "FORMATS",
    "MANIFEST",
    "SCHEMES",
    "FileEntry",
    "Manifest",
    "PromptFormat",
    "R3ChatModel",
    "RegionInfo",
    "RegionMask",
    "RegionsChatModel",
    "load_r3_model",
    "load_regions_model",
    "read_checkpoint",
    "save_checkpoint",
    "save_r3_checkpoint",
    "save_regions_checkpoint",
    "verify_checkpoint",
]
