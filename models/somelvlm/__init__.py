"""SoMeLVLM: a social-media vision-language node with five cognitive capabilities.

Tasks and data (no torch): `CAPABILITIES`, `TASKS`, `TaskTemplate`, `SocialPost`,
`build_instruction_data`, `post_messages`, `load_posts`, `PostDataError`. The model side
(torch, loaded lazily): `VisionChatModel` (`vlm:PATH`, LLaVA-family transformers models),
`SoMeLVLMChatModel` (`somelvlm:PATH`), `save_somelvlm_checkpoint`, `sft_somelvlm` (TRL),
`SFTOptions`, `evaluate_somelvlm`, `SoMeLVLMReport`, and `build_tiny_llava` for tests.
"""

from typing import Any

from phalanx.models.somelvlm.tasks import (
    CAPABILITIES,
    TASKS,
    Capability,
    PostDataError,
    SocialPost,
    TaskTemplate,
    build_instruction_data,
    load_posts,
    post_messages,
)

__all__ = [
    "CAPABILITIES",
    "TASKS",
    "Capability",
    "PostDataError",
    "SocialPost",
    "TaskTemplate",
    "build_instruction_data",
    "load_posts",
    "post_messages",
]

_LAZY = {
    "VisionChatModel": "phalanx.models.somelvlm.backend",
    "load_image": "phalanx.models.somelvlm.backend",
    "SoMeLVLMChatModel": "phalanx.models.somelvlm.node",
    "SoMeLVLMSettings": "phalanx.models.somelvlm.node",
    "save_somelvlm_checkpoint": "phalanx.models.somelvlm.node",
    "load_somelvlm_model": "phalanx.models.somelvlm.node",
    "sft_somelvlm": "phalanx.models.somelvlm.sft",
    "SFTOptions": "phalanx.models.somelvlm.sft",
    "SFTResult": "phalanx.models.somelvlm.sft",
    "evaluate_somelvlm": "phalanx.models.somelvlm.evaluate",
    "SoMeLVLMReport": "phalanx.models.somelvlm.evaluate",
    "TaskScore": "phalanx.models.somelvlm.evaluate",
    "build_tiny_llava": "phalanx.models.somelvlm.tiny",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy so the task templates (and `phalanx somelvlm --help`) never import torch.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.somelvlm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
