"""What phalanx's trainers share around a transformers/TRL trainer: loss collection and quiet defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StepProgress = Callable[[int, int, float], None]
"""Called as `progress(step, steps, loss)` after each logged optimizer step."""

QUIET_ARGS: dict[str, Any] = {
    "lr_scheduler_type": "constant",
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "disable_tqdm": True,
    "dataloader_num_workers": 0,
    "dataloader_pin_memory": False,
}
"""Training arguments every phalanx trainer sets: log each step, save nothing, no bars or trackers."""


def loss_recorder(losses: list[float], steps: int, progress: StepProgress | None) -> Any:
    """A `TrainerCallback` appending each logged loss to `losses` and reporting it to `progress`."""
    from transformers import TrainerCallback

    class LossRecorder(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                if progress is not None:
                    progress(state.global_step, steps, float(logs["loss"]))

    return LossRecorder()


def run_quietly(trainer: Any) -> None:
    """Train with the losses going to the callbacks only (transformers would print each log line)."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()
