"""The region pipeline in one call, and region masks on disk between `find`, `ablate` and `train`.

`find_regions` scores a model over each language's text and returns the paper's set of
masks: `core` (top 1 % per matrix of Σ|grad ⊙ param|), the `bottom` and `random`
controls, and optionally one `mono-LANG` region per language. `save_region_masks` writes
them as `NAME.safetensors` plus `regions.json` (how each was made); `load_region_masks`
reads them back, checking each file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from phalanx.models.checkpoints.regions import RegionInfo, RegionMask
from phalanx.models.errors import CheckpointError
from phalanx.models.trainers.corpora import token_blocks
from phalanx.models.trainers.regions import monolingual_region, score_languages, select_region

INDEX = "regions.json"
"""The file listing a region folder's masks and how each was made."""


class RegionSearchSettings(BaseModel):
    """How `find_regions` scores and selects (defaults sized for a CPU; the paper used 10k-100k samples of 512)."""

    samples: int = Field(64, ge=1)
    """Token blocks of each language whose gradients are accumulated."""
    seq_len: int = Field(128, ge=2)
    """Tokens per block (the paper: 512)."""
    fraction: float = Field(0.01, gt=0, le=1)
    """Share of each matrix in a region (the paper's core region: 1 %)."""
    batch_size: int = Field(4, ge=1)
    monolingual: bool = False
    """Also find each language's own region (`mono-LANG`)."""
    seed: int = 0
    """Seed of the text shuffle and of the random control."""


def language_blocks(
    tokenizer: Any, texts: dict[str, list[str]], *, seq_len: int, count: int, seed: int = 0, offset: int = 0
) -> dict[str, list[list[int]]]:
    """`token_blocks` of every language (`offset` skips the blocks an earlier step used)."""
    return {
        lang: token_blocks(tokenizer, t, seq_len=seq_len, count=count, seed=seed, offset=offset)
        for lang, t in texts.items()
    }


def find_regions(
    model: Any,
    tokenizer: Any,
    texts: dict[str, list[str]],
    settings: RegionSearchSettings | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, RegionMask]:
    """`core`, `bottom`, `random` (and `mono-LANG`) regions of `model` over `texts` (language -> texts).

    Raises:
        CorpusError: a language has too little text for the samples asked.
    """
    settings = settings or RegionSearchSettings()
    blocks = language_blocks(
        tokenizer, texts, seq_len=settings.seq_len, count=settings.samples, seed=settings.seed
    )
    scores = score_languages(
        model,
        blocks,
        batch_size=settings.batch_size,
        keep_per_language=settings.monolingual,
        progress=progress,
    )
    extra = {"seq_len": settings.seq_len}
    regions: dict[str, RegionMask] = {}
    for name in ("top", "bottom", "random"):
        mask = select_region(scores, fraction=settings.fraction, selection=name, seed=settings.seed)
        mask.info = RegionInfo(**{**mask.info.model_dump(), **extra})
        regions["core" if name == "top" else name] = mask
    if settings.monolingual:
        for language in scores.languages:
            mask = monolingual_region(scores, language, fraction=settings.fraction)
            mask.info = RegionInfo(**{**mask.info.model_dump(), **extra})
            regions[f"mono-{language}"] = mask
    return regions


def save_region_masks(directory: str | Path, regions: dict[str, RegionMask]) -> Path:
    """Write `NAME.safetensors` per region and `regions.json` (name -> `RegionInfo`) into `directory`."""
    out = Path(directory).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for name, mask in regions.items():
        mask.save(out / f"{name}.safetensors")
    index = {name: mask.info.model_dump() for name, mask in regions.items()}
    (out / INDEX).write_text(json.dumps(index, indent=2))
    return out


def load_region_masks(directory: str | Path, names: list[str] | None = None) -> dict[str, RegionMask]:
    """Read masks written by `save_region_masks` (all, or those in `names`).

    Raises:
        CheckpointError: no `regions.json`, an unknown name, or a damaged mask file.
    """
    root = Path(directory).expanduser()
    index_path = root / INDEX
    if not index_path.is_file():
        raise CheckpointError(
            f"{index_path}: missing; {root} holds no region masks (write them with `phalanx regions find --out`)"
        )
    try:
        index = json.loads(index_path.read_text())
        infos = {name: RegionInfo.model_validate(info) for name, info in index.items()}
    except (json.JSONDecodeError, AttributeError, ValidationError) as exc:
        raise CheckpointError(f"{index_path}: not a region index ({exc})") from exc
    wanted = names or list(infos)
    unknown = [n for n in wanted if n not in infos]
    if unknown:
        raise CheckpointError(f"{index_path}: no region {unknown[0]!r}; have: {', '.join(infos)}")
    return {name: RegionMask.load(root / f"{name}.safetensors", infos[name]) for name in wanted}
