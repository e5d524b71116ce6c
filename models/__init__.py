"""phalanx.models: chat-model backends behind one `ChatModel` protocol, and model methods.

Backend classes are exported lazily (importing this package does not import torch,
httpx or fastapi): `HFChatModel`, `OpenAICompatModel`, `VLLMChatModel`, `ScriptedModel`,
`MicroBatcher`, `BackgroundServer`, `build_app`, `serve_model` (blocking), `is_loopback`,
`GenerationEngine`, `PrefixCache`, `GrammarCompiler`, `GrammarError`; model methods and
checkpoints: `install_longheads`, `LongHeadsCache`, `HagChatModel`, `HagConfig`, `R3ChatModel`,
`RegionsChatModel`, `RegionMask`.
"""

from typing import Any

from phalanx.models.base import ChatModel, load_model, register_backend, registered_backends
from phalanx.models.errors import (
    CheckpointError,
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelSpecError,
    ModelStoreError,
    ModelUnavailable,
)
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message, ToolCall, Usage

__all__ = [
    "CheckpointError",
    "ChatModel",
    "ChatResponse",
    "GenerationConfig",
    "JsonMode",
    "Message",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelSpecError",
    "ModelStoreError",
    "ModelUnavailable",
    "ToolCall",
    "Usage",
    "load_model",
    "register_backend",
    "registered_backends",
]

_LAZY = {
    "HFChatModel": "phalanx.models.hf",
    "OpenAICompatModel": "phalanx.models.openai_compat",
    "VLLMChatModel": "phalanx.models.vllm_backend",
    "ScriptedModel": "phalanx.models.scripted",
    "MicroBatcher": "phalanx.models.batching",
    "BackgroundServer": "phalanx.models.serve",
    "build_app": "phalanx.models.serve",
    "serve_model": "phalanx.models.serve",
    "is_loopback": "phalanx.models.serve",
    "build_tiny_checkpoint": "phalanx.models.tiny",
    "GenerationEngine": "phalanx.models.engine",
    "PrefixCache": "phalanx.models.prefix_cache",
    "GrammarCompiler": "phalanx.models.grammar",
    "GrammarError": "phalanx.models.grammar",
    "install_longheads": "phalanx.models.longheads",
    "LongHeadsCache": "phalanx.models.longheads.cache",
    "HagChatModel": "phalanx.models.hag",
    "HagConfig": "phalanx.models.hag",
    "R3ChatModel": "phalanx.models.checkpoints",
    "RegionsChatModel": "phalanx.models.checkpoints",
    "RegionMask": "phalanx.models.checkpoints",
}
__all__ += list(_LAZY)  # public too; `from phalanx.models import *` loads them (torch included)


def __getattr__(name: str) -> Any:
    # Lazy exports keep `import phalanx.models` cheap for the layers that only need the types.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
