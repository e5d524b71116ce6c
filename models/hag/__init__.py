"""HAG: the model chooses its own decoding configuration per request, then answers with it.

`load_model("hag:SPEC")`; `HagChatModel(inner)` wraps any chat model. The stage-1 JSON
format, its bounds and the fallback are in `phalanx.models.hag.config`.
"""

from phalanx.models.hag.config import (
    BOUNDS,
    FALLBACK_CONFIG,
    INSTRUCTION,
    SCHEMA,
    HagChoice,
    HagConfig,
    parse_choice,
)
from phalanx.models.hag.node import (
    HagChatModel,
    HagSettings,
    load_hag_model,
    on_hag_choice,
    save_hag_checkpoint,
    stage_one_messages,
)

__all__ = [
    "BOUNDS",
    "FALLBACK_CONFIG",
    "INSTRUCTION",
    "SCHEMA",
    "HagChatModel",
    "HagChoice",
    "HagConfig",
    "HagSettings",
    "load_hag_model",
    "on_hag_choice",
    "parse_choice",
    "save_hag_checkpoint",
    "stage_one_messages",
]
