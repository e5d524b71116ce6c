"""phalanx.models.trainers: training methods over transformers models (R³ and the PPO it runs on).

Trainers take reward functions; none runs code or touches a sandbox (StepCoder's trainer,
which needs the executor, lives in `phalanx.agents.stepcoder.train`). Names that import
torch are exported lazily: `PPOLoop`, `PolicyWithValueHead`, `train_r3`, `evaluate_accuracy`,
`load_trainable`.
"""

from typing import Any

from phalanx.models.trainers.arithmetic import generate_word_problems
from phalanx.models.trainers.r3_data import (
    R3_FORMAT,
    R3_INSTRUCTION,
    DataFileError,
    Demonstration,
    MixedPool,
    StagedCurriculum,
    StartState,
    build_start_states,
    load_gsm8k_jsonl,
    render_question,
    write_gsm8k_jsonl,
)

__all__ = [
    "R3_FORMAT",
    "R3_INSTRUCTION",
    "DataFileError",
    "Demonstration",
    "MixedPool",
    "StagedCurriculum",
    "StartState",
    "build_start_states",
    "generate_word_problems",
    "load_gsm8k_jsonl",
    "render_question",
    "write_gsm8k_jsonl",
]

_LAZY = {
    "PPOConfig": "phalanx.models.trainers.ppo",
    "PPOLoop": "phalanx.models.trainers.ppo",
    "PolicyWithValueHead": "phalanx.models.trainers.ppo",
    "Rollout": "phalanx.models.trainers.ppo",
    "StepStats": "phalanx.models.trainers.ppo",
    "policy_loss": "phalanx.models.trainers.ppo",
    "OutcomeReward": "phalanx.models.trainers.r3",
    "R3Config": "phalanx.models.trainers.r3",
    "R3Result": "phalanx.models.trainers.r3",
    "R3Step": "phalanx.models.trainers.r3",
    "evaluate_accuracy": "phalanx.models.trainers.r3",
    "outcome_reward": "phalanx.models.trainers.r3",
    "train_r3": "phalanx.models.trainers.r3",
    "load_trainable": "phalanx.models.trainers.policy",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy: `import phalanx.models.trainers` must not import torch (the CLI's --help stays fast).
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.trainers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
