"""The `ChatModel` seam, the backend registry and `load_model(spec)`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from phalanx.models.errors import ModelSpecError
from phalanx.models.store.lookup import is_store_name
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message

TokenCallback = Callable[[str], None]


@runtime_checkable
class ChatModel(Protocol):
    """An async chat model.

    Contract:
      * `chat` returns one assistant `ChatResponse`; tool calls come back in
        `response.message.tool_calls` when the backend supports native tools
        (`supports_tools`), otherwise the caller uses a text protocol.
      * `tools` are OpenAI function schemas (`{"type": "function", "function": {...}}`).
      * `json_mode=True` asks for a single JSON object as content, `json_mode=SCHEMA`
        (a JSON schema dict) for one of that schema. Backends with constrained decoding
        (`supports_json_schema = True`: `hf:`, `vllm:`, and `openai:` servers that honour
        `response_format: json_schema`) guarantee it; elsewhere it is best effort and
        callers validate.
      * `on_token`, when given, is called with each new text piece as it is produced.
      * Raises `ModelUnavailable` when the backend cannot serve (server down);
        never returns partial garbage silently for transport errors.
    """

    name: str
    supports_tools: bool

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse: ...

    async def aclose(self) -> None: ...


BackendFactory = Callable[[str], ChatModel]
_BACKENDS: dict[str, BackendFactory] = {}


def register_backend(scheme: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register a factory for specs of the form `SCHEME:REST` (called with REST)."""

    def deco(factory: BackendFactory) -> BackendFactory:
        _BACKENDS[scheme] = factory
        return factory

    return deco


def registered_backends() -> list[str]:
    """Names of the schemes `load_model` understands."""
    _import_builtin_backends()
    return sorted(_BACKENDS)


BUILTIN_BACKENDS = (
    "scripted",
    "hf",
    "openai_compat",
    "vllm_backend",
    "longheads.backend",
    "hag.node",
    "checkpoints.r3",
    "checkpoints.regions",
)
"""Modules under `phalanx.models` that register the built-in schemes."""


def _import_builtin_backends() -> None:
    # Imported lazily so `import phalanx.models` stays cheap (no torch import).
    import importlib

    for mod in BUILTIN_BACKENDS:
        try:
            importlib.import_module(f"phalanx.models.{mod}")
        except ModuleNotFoundError as exc:  # a backend module not written yet
            if exc.name != f"phalanx.models.{mod}":
                raise


def load_model(spec: str | ChatModel) -> ChatModel:
    """Build a chat model from a spec string.

    Specs: `hf:PATH_OR_DIR`, `openai:BASE_URL#MODEL`, `vllm:PATH[?tp=N]`, `scripted:FILE_OR_NAME`,
    `longheads:SPEC?chunk=256&budget=4096`, `hag:SPEC`, `r3:PATH`, `regions:PATH`;
    a bare model-store name (`smollm2-135m-instruct`) means `hf:NAME`.
    A `ChatModel` instance is returned unchanged.

    Raises:
        ModelSpecError: malformed spec, unknown scheme, missing path, or a store model that
            is not installed.
        ModelUnavailable: the backend cannot be loaded or reached.
    """
    if not isinstance(spec, str):
        return spec
    scheme, sep, rest = spec.partition(":")
    if not sep and is_store_name(spec):  # a model-store name alone means `hf:NAME`
        scheme, sep, rest = "hf", ":", spec
    if not sep or not rest:
        raise ModelSpecError(
            f"model spec {spec!r} is not of the form SCHEME:TARGET "
            "(e.g. hf:./my-model, openai:http://127.0.0.1:8000/v1#name, scripted:comply)"
        )
    _import_builtin_backends()
    factory = _BACKENDS.get(scheme)
    if factory is None:
        raise ModelSpecError(
            f"unknown model scheme {scheme!r} in {spec!r}; known schemes: {', '.join(sorted(_BACKENDS))}"
        )
    return factory(rest)
