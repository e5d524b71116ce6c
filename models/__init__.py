"""phalanx.models: chat-model backends behind one `ChatModel` protocol, and model methods."""

from phalanx.models.base import ChatModel, load_model, register_backend, registered_backends
from phalanx.models.errors import (
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelSpecError,
    ModelUnavailable,
)
from phalanx.models.types import ChatResponse, GenerationConfig, Message, ToolCall, Usage

__all__ = [
    "ChatModel",
    "ChatResponse",
    "GenerationConfig",
    "Message",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelSpecError",
    "ModelUnavailable",
    "ToolCall",
    "Usage",
    "load_model",
    "register_backend",
    "registered_backends",
]
