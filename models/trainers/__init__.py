"""phalanx trainers: the training side of the model methods.

Linguistic regions (Zhang et al. 2024): `find_regions`, `score_languages`, `select_region`,
`monolingual_region`, `dimension_concentration`, `ablation_report`, `ablated`, `perplexity`,
`train_region_frozen` (`RegionFreeze` and `region_freeze_callback` for any transformers
`Trainer`), `save_region_frozen` (the checkpoint `regions:` loads), `save_region_masks` /
`load_region_masks`, and the multilingual text (`load_texts`: Debian fortunes or a folder).
HAG (Wang et al. 2024): `search_config` (coarse grid, pruning, greedy refinement) and
`build_hag_dataset` (per-sample search with a chat model and a task metric -> `HagRecord`s), and
`tune_hag` (TRL SFT, optional LoRA merged before saving; the checkpoint `hag:` loads).

Everything is exported lazily: importing this package does not import torch.
"""

from typing import Any

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
    "load_trainable": "phalanx.models.trainers.region_search",
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
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy: the trainers pull in torch and transformers, which `import phalanx.models.trainers` must not.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.trainers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
