"""HAG instruction tuning: supervised fine-tuning on the searched configurations, with TRL.

TRL's `SFTTrainer` trains on the `HagRecord`s as conversational prompt-completion pairs,
so the loss covers only the completion (the configuration JSON), not the instruction or
the request. With `lora=True` a peft LoRA adapter is trained instead of the full weights
and merged into them before saving, so the checkpoint is a plain model either way. The
result is written with `save_hag_checkpoint`: `hag:DIRECTORY` loads it with the stage-1
instruction it was tuned with.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from phalanx.models.hag import FALLBACK_CONFIG, INSTRUCTION, HagConfig, HagSettings, save_hag_checkpoint
from phalanx.models.trainers.hag_data import HagDataError, HagRecord
from phalanx.models.trainers.trainer_logging import QUIET_ARGS, StepProgress, loss_recorder, run_quietly


class HagTuneSettings(BaseModel):
    """SFT settings (defaults for a ~100M model on a CPU)."""

    steps: int = Field(50, ge=1)
    """Optimizer steps (the set is cycled)."""
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    """Full fine-tuning rate; with LoRA something like 2e-4."""
    max_length: int = Field(512, ge=16)
    """Tokens per example (longer ones are truncated)."""
    lora: bool = False
    """Train a LoRA adapter (merged before saving) instead of all weights."""
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: str | list[str] = "all-linear"
    """peft `target_modules`: `all-linear` or module names."""
    seed: int = 0


class HagTuneResult(BaseModel):
    """What `tune_hag` did."""

    out: Path
    losses: list[float]
    """Training loss per logged step."""
    lora: bool


def tune_hag(
    model: Any,
    tokenizer: Any,
    records: list[HagRecord],
    out: str | Path,
    settings: HagTuneSettings | None = None,
    *,
    instruction: str = INSTRUCTION,
    fallback: HagConfig = FALLBACK_CONFIG,
    base_model: str | None = None,
    progress: StepProgress | None = None,
) -> HagTuneResult:
    """Fine-tune `model` on `records` with TRL's SFTTrainer and save the checkpoint `hag:OUT` loads.

    Args:
        instruction: the stage-1 instruction the records were built with (recorded in the checkpoint).
        fallback: the configuration the tuned node falls back to.
        progress: called as `progress(step, steps, loss)` after each logged step.

    Raises:
        HagDataError: no records, or records whose stage-1 instruction differs from `instruction`.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = settings or HagTuneSettings()
    if not records:
        raise HagDataError("no HAG records to tune on; build them with `phalanx hag search`")
    systems = {r.prompt[0]["content"] for r in records if r.prompt and r.prompt[0].get("role") == "system"}
    if systems - {instruction}:
        raise HagDataError(
            "the records' stage-1 instruction differs from the one the checkpoint would record; "
            "pass the instruction they were built with"
        )
    dataset = Dataset.from_list([{"prompt": r.prompt, "completion": r.completion} for r in records])
    losses: list[float] = []

    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_targets,
            task_type="CAUSAL_LM",
        )
    with tempfile.TemporaryDirectory(prefix="phalanx-hag-") as scratch:
        args = SFTConfig(
            output_dir=scratch,
            max_steps=config.steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            max_length=config.max_length,
            completion_only_loss=True,  # learn the configuration, not the instruction or the request
            bf16=False,  # TRL defaults to bf16; phalanx trains in the model's own dtype
            seed=config.seed,
            **QUIET_ARGS,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[loss_recorder(losses, config.steps, progress)],
        )
        run_quietly(trainer)
        tuned: Any = trainer.model
    if config.lora:
        tuned = tuned.merge_and_unload()  # a plain model: `hag:` loads it without peft
    tuned.eval()
    saved = save_hag_checkpoint(
        out, tuned, tokenizer, HagSettings(instruction=instruction, fallback=fallback), base_model=base_model
    )
    return HagTuneResult(out=Path(saved), losses=losses, lora=config.lora)
