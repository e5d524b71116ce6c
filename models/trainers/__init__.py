"""phalanx.models.trainers: the training side of the model methods.

Trainers take reward functions or data; none runs code or touches a sandbox (StepCoder's trainer,
which needs the executor, is `phalanx.agents.stepcoder.train_stepcoder`).

R³ (Xi et al. 2024): `train_r3`, `run_r3`, start states and schedules (`build_start_states`,
`StagedCurriculum`, `MixedPool`), `outcome_reward`, `make_pot_reward`, GSM8K-layout data and the
offline arithmetic generator, on one compact PPO (`PPOLoop`, `PolicyWithValueHead`, exported lazily).
Linguistic regions (Zhang et al. 2024): `find_regions`, `score_languages`, `select_region`,
`monolingual_region`, `dimension_concentration`, `ablation_report`, `ablated`, `perplexity`,
`train_region_frozen` (`RegionFreeze` and `region_freeze_callback` for any transformers
`Trainer`), `save_region_frozen` (the checkpoint `regions:` loads), `save_region_masks` /
`load_region_masks`, and the multilingual text (`load_texts`: Debian fortunes or a folder).
HAG (Wang et al. 2024): `search_config` (coarse grid, pruning, greedy refinement) and
`build_hag_dataset` (per-sample search with a chat model and a task metric -> `HagRecord`s), and
`tune_hag` (TRL SFT, optional LoRA merged before saving; the checkpoint `hag:` loads).

`load_trainable` loads a model for training (float32; `hf:`, `r3:`, a directory or store name).
Importing this package does not import torch: the torch-bound names are exported lazily.
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
    # linguistic regions
    "CorpusError": "phalanx.models.trainers.corpora",
    "FORTUNE_PACKAGES": "phalanx.models.trainers.corpora",
    "load_texts": "phalanx.models.trainers.corpora",
    "token_blocks": "phalanx.models.trainers.corpora",
    "ImportanceScores": "phalanx.models.trainers.regions",
    "DimensionReport": "phalanx.models.trainers.regions",
    "dimension_concentration": "phalanx.models.trainers.regions",
    "language_importance": "phalanx.models.trainers.regions",
    "monolingual_region": "phalanx.models.trainers.regions",
    "region_parameters": "phalanx.models.trainers.regions",
    "score_languages": "phalanx.models.trainers.regions",
    "select_region": "phalanx.models.trainers.regions",
    "AblationReport": "phalanx.models.trainers.region_ablation",
    "ablated": "phalanx.models.trainers.region_ablation",
    "ablation_report": "phalanx.models.trainers.region_ablation",
    "perplexity": "phalanx.models.trainers.region_ablation",
    "RegionSearchSettings": "phalanx.models.trainers.region_search",
    "find_regions": "phalanx.models.trainers.region_search",
    "language_blocks": "phalanx.models.trainers.region_search",
    "load_region_masks": "phalanx.models.trainers.region_search",
    "save_region_masks": "phalanx.models.trainers.region_search",
    "FreezeTrainResult": "phalanx.models.trainers.region_freeze",
    "FreezeTrainSettings": "phalanx.models.trainers.region_freeze",
    "RegionFreeze": "phalanx.models.trainers.region_freeze",
    "region_freeze_callback": "phalanx.models.trainers.region_freeze",
    "save_region_frozen": "phalanx.models.trainers.region_freeze",
    "train_region_frozen": "phalanx.models.trainers.region_freeze",
    # HAG
    "SearchResult": "phalanx.models.trainers.hag_search",
    "SearchSpace": "phalanx.models.trainers.hag_search",
    "coarse_grid": "phalanx.models.trainers.hag_search",
    "search_config": "phalanx.models.trainers.hag_search",
    "METRICS": "phalanx.models.trainers.hag_data",
    "HagDataError": "phalanx.models.trainers.hag_data",
    "HagRecord": "phalanx.models.trainers.hag_data",
    "HagSample": "phalanx.models.trainers.hag_data",
    "build_hag_dataset": "phalanx.models.trainers.hag_data",
    "chat_evaluator": "phalanx.models.trainers.hag_data",
    "config_json": "phalanx.models.trainers.hag_data",
    "load_records": "phalanx.models.trainers.hag_data",
    "load_samples": "phalanx.models.trainers.hag_data",
    "save_records": "phalanx.models.trainers.hag_data",
    "to_record": "phalanx.models.trainers.hag_data",
    "HagTuneResult": "phalanx.models.trainers.hag_tune",
    "HagTuneSettings": "phalanx.models.trainers.hag_tune",
    "tune_hag": "phalanx.models.trainers.hag_tune",
    # R³ PPO internals
    "PPOLoop": "phalanx.models.trainers.ppo",
    "PolicyWithValueHead": "phalanx.models.trainers.ppo",
    "Rollout": "phalanx.models.trainers.ppo",
    "StepStats": "phalanx.models.trainers.ppo",
    "TrainerStep": "phalanx.models.trainers.config",
    "policy_loss": "phalanx.models.trainers.ppo",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy: these modules import torch and transformers, which `import phalanx.models.trainers` must not.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.trainers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
