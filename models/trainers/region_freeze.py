"""Further pre-training with a linguistic region frozen, and the region-frozen checkpoint.

The official `region_freeze_train.py` (Zhang et al. 2024, §5) keeps every parameter
trainable, lets the optimizer update all of them, and after EVERY optimizer step resets
the region's elements to their saved values (`param = param * ~mask + saved`). Restoring,
rather than zeroing gradients, also undoes AdamW's weight decay and momentum drift on
those elements, so they stay bit-identical. `RegionFreeze` does exactly that and
`RegionFreezeCallback` hooks it into any transformers `Trainer` (TRL's trainers included)
right after `optimizer.step()`; `train_region_frozen` runs a `Trainer` on token blocks.
The official setup used lr 5e-5 and weight decay 0.001; those are the defaults here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from phalanx.models.checkpoints.regions import RegionInfo, RegionMask, save_regions_checkpoint
from phalanx.models.trainers.trainer_logging import QUIET_ARGS, StepProgress, loss_recorder, run_quietly


class RegionFreeze:
    """Saves a region's values from `model` and writes them back on `restore()`.

    Raises:
        CheckpointError: the mask does not fit the model.
    """

    def __init__(self, model: Any, mask: RegionMask) -> None:
        mask.check_against(model, Path("region mask"))
        params = dict(model.named_parameters())
        self._entries = []
        for name, m in mask.masks.items():
            p = params[name]
            where = m.to(p.device)
            self._entries.append((p, where, p.detach()[where].clone()))

    def restore(self) -> None:
        """Write the saved values back into the region (call after each optimizer step)."""
        import torch

        with torch.no_grad():
            for p, where, values in self._entries:
                p[where] = values

    def intact(self) -> bool:
        """True when every element of the region still holds its saved value, bit for bit."""
        import torch

        return all(torch.equal(p.detach()[where], values) for p, where, values in self._entries)


def region_freeze_callback(freeze: RegionFreeze) -> Any:
    """A transformers `TrainerCallback` that calls `freeze.restore()` after every optimizer step."""
    from transformers import TrainerCallback

    class RegionFreezeCallback(TrainerCallback):
        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            freeze.restore()

    return RegionFreezeCallback()


class FreezeTrainSettings(BaseModel):
    """Further pre-training settings (defaults: the official freeze script's lr and weight decay)."""

    steps: int = Field(100, ge=1)
    """Optimizer steps."""
    batch_size: int = Field(4, ge=1)
    """Token blocks per step."""
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.001, ge=0)
    seed: int = 0


class FreezeTrainResult(BaseModel):
    """What `train_region_frozen` did."""

    losses: list[float]
    """Training loss per logged step."""
    region_intact: bool | None
    """The frozen region is bit-identical to its values before training (None: nothing frozen)."""


def train_region_frozen(
    model: Any,
    blocks: list[list[int]],
    mask: RegionMask | None,
    settings: FreezeTrainSettings | None = None,
    *,
    progress: StepProgress | None = None,
) -> FreezeTrainResult:
    """Causal-LM training of `model` on `blocks` with `mask`'s region frozen (None: plain training).

    Args:
        blocks: token blocks of equal length; cycled when `steps * batch_size` exceeds them.
        progress: called as `progress(step, steps, loss)` after each logged step.
    """
    import torch
    from transformers import Trainer, TrainingArguments

    config = settings or FreezeTrainSettings()
    if not blocks:
        raise ValueError("no token blocks to train on")
    rows = [{"input_ids": torch.tensor(b), "labels": torch.tensor(b)} for b in blocks]
    freeze = RegionFreeze(model, mask) if mask is not None else None
    losses: list[float] = []
    callbacks: list[Any] = [loss_recorder(losses, config.steps, progress)]
    if freeze is not None:
        callbacks.insert(0, region_freeze_callback(freeze))
    with tempfile.TemporaryDirectory(prefix="phalanx-regions-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            max_steps=config.steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            seed=config.seed,
            **QUIET_ARGS,
        )
        model.train()
        run_quietly(Trainer(model=model, args=args, train_dataset=_Rows(rows), callbacks=callbacks))
    model.eval()
    return FreezeTrainResult(losses=losses, region_intact=freeze.intact() if freeze else None)


class _Rows:
    """A map-style dataset over prepared rows (no `datasets` dependency for a list of tensors)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def save_region_frozen(
    directory: str | Path,
    model: Any,
    tokenizer: Any,
    mask: RegionMask,
    *,
    base_model: str | None = None,
    trained_on: list[str] | None = None,
    settings: FreezeTrainSettings | None = None,
) -> Path:
    """Write the region-frozen checkpoint (`regions:DIRECTORY` loads it): weights, mask, how both were made."""
    info = RegionInfo(
        **{
            **mask.info.model_dump(),
            "trained_on": trained_on or [],
            "training": settings.model_dump() if settings else None,
        }
    )
    return Path(
        save_regions_checkpoint(
            directory, model, tokenizer, RegionMask(mask.masks, info), base_model=base_model
        )
    )
