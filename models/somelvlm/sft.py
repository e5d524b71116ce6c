"""Supervised fine-tuning of a vision-language model on SoMeLVLM-style instruction data, through TRL.

TRL's `SFTTrainer` takes conversational prompt-completion rows (`{"type": "image"}`
placeholders in the prompt, `images` as PIL images; the loss covers the answer only) and the model's processor, and applies the chat
template, image processing and padding itself; phalanx builds the rows from labelled
posts (`build_instruction_data`) and writes the tuned model as a `somelvlm:` checkpoint.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from phalanx.models.errors import ModelUnavailable
from phalanx.models.somelvlm.backend import load_vision_pretrained, processor_conversation
from phalanx.models.somelvlm.node import SoMeLVLMSettings, save_somelvlm_checkpoint
from phalanx.models.somelvlm.tasks import (
    TASKS,
    PostDataError,
    SocialPost,
    TaskTemplate,
    build_instruction_data,
)


class SFTOptions(BaseModel):
    """How `sft_somelvlm` trains."""

    max_steps: int = Field(100, ge=1)
    """Optimiser steps."""
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(2e-5, gt=0)
    seed: int = 0


class SFTResult(BaseModel):
    """Where the tuned checkpoint is and the training loss of each step."""

    checkpoint: Path
    losses: list[float]


def sft_somelvlm(
    base: str | Path,
    posts: list[SocialPost],
    out: str | Path,
    *,
    tasks: dict[str, TaskTemplate] | None = None,
    options: SFTOptions | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> SFTResult:
    """Fine-tune the vision-language model in `base` on `posts` and save it as a `somelvlm:` checkpoint.

    Args:
        base: a LLaVA-family model directory (model + processor).
        posts: labelled posts; each gets a randomly chosen phrasing of its task's instruction.
        out: the checkpoint directory to write.
        tasks: task templates (default: the built-in five).
        options: steps, batch size, learning rate, seed.
        on_log: called with each of TRL's log records (loss, learning rate, ...).

    Raises:
        PostDataError: no posts, or a post of an unknown task or label.
        ModelUnavailable: TRL is not installed, or `base` is not a vision-language model.
    """
    try:
        from datasets import Dataset
        from transformers import PrinterCallback, TrainerCallback
        from trl import SFTConfig, SFTTrainer
    except ImportError as exc:
        raise ModelUnavailable(
            f"SoMeLVLM fine-tuning needs TRL: pip install 'phalanx[somelvlm]' ({exc})"
        ) from exc
    import torch

    opts = options or SFTOptions()
    known = tasks or TASKS
    if not posts:
        raise PostDataError("no posts to fine-tune on")
    rows = []
    for conversation in build_instruction_data(posts, known, seed=opts.seed):
        messages, images = processor_conversation(conversation)
        # Prompt-completion rows: TRL computes the loss on the answer only (completion_only_loss).
        rows.append({"prompt": messages[:-1], "completion": messages[-1:], "images": images})
    model, processor = load_vision_pretrained(
        base, dtype="float32" if not torch.cuda.is_available() else "auto"
    )

    class _Relay(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if on_log is not None and logs:
                on_log({k: float(v) for k, v in logs.items() if isinstance(v, int | float)})

    with tempfile.TemporaryDirectory() as scratch:  # TRL wants an output dir; phalanx saves its own way
        config = SFTConfig(
            output_dir=scratch,
            max_steps=opts.max_steps,
            per_device_train_batch_size=opts.batch_size,
            learning_rate=opts.learning_rate,
            seed=opts.seed,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            max_length=None,  # truncating would cut image placeholders away from their features
            bf16=False,
            use_cpu=not torch.cuda.is_available(),
            disable_tqdm=True,
        )
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=processor,
            callbacks=[_Relay()],
        )
        trainer.remove_callback(PrinterCallback)  # phalanx reports through on_log instead of stdout
        trainer.train()
        losses = [float(r["loss"]) for r in trainer.state.log_history if "loss" in r]
    model.eval()
    settings = SoMeLVLMSettings(tasks=dict(known), base_model=str(base))
    return SFTResult(checkpoint=save_somelvlm_checkpoint(out, model, processor, settings), losses=losses)
