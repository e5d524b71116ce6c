"""phalanx.models.trainers: training methods over transformers models (R³ and the PPO it runs on).

Trainers take reward functions; none runs code or touches a sandbox (StepCoder's trainer,
which needs the executor, is `phalanx.agents.stepcoder.train_stepcoder`). Importing this
package does not import torch; the PPO internals (`PPOLoop`, `PolicyWithValueHead`,
`Rollout`, `StepStats`, `policy_loss`) are exported lazily.
"""

from typing import Any

from phalanx.models.trainers.arithmetic import generate_word_problems
from phalanx.models.trainers.config import PPOConfig
from phalanx.models.trainers.policy import load_trainable
from phalanx.models.trainers.r3 import (
    OutcomeReward,
    R3Config,
    R3Result,
    R3Step,
    check_fresh_output,
    evaluate_accuracy,
    make_pot_reward,
    outcome_reward,
    run_r3,
    train_r3,
)
from phalanx.models.trainers.r3_data import (
    PROGRAM_HEADER,
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
from phalanx.models.trainers.sft import sft_warmup

__all__ = [
    "PROGRAM_HEADER",
    "R3_FORMAT",
    "R3_INSTRUCTION",
    "DataFileError",
    "Demonstration",
    "MixedPool",
    "OutcomeReward",
    "PPOConfig",
    "R3Config",
    "R3Result",
    "R3Step",
    "StagedCurriculum",
    "StartState",
    "build_start_states",
    "check_fresh_output",
    "evaluate_accuracy",
    "generate_word_problems",
    "load_gsm8k_jsonl",
    "load_trainable",
    "make_pot_reward",
    "outcome_reward",
    "render_question",
    "run_r3",
    "sft_warmup",
    "train_r3",
    "write_gsm8k_jsonl",
]

_LAZY = {
    "PPOLoop": "phalanx.models.trainers.ppo",
    "PolicyWithValueHead": "phalanx.models.trainers.ppo",
    "Rollout": "phalanx.models.trainers.ppo",
    "StepStats": "phalanx.models.trainers.ppo",
    "policy_loss": "phalanx.models.trainers.ppo",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy: the PPO module imports torch; the CLI's --help and config validation must not.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.trainers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
