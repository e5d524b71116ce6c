"""`vllm:PATH`: a local model served in-process by vLLM's async engine (optional extra, CUDA only).

vLLM batches concurrent requests itself (continuous batching), so this backend hands
every `chat` call straight to the engine. Prompts are rendered with the model's chat
template exactly as the `hf:` backend does, and text is turned back into tool calls /
JSON the same way, so switching `hf:` to `vllm:` changes speed, not behaviour.

Install with `pip install 'phalanx[vllm]'` on a machine with a CUDA GPU. vLLM is
imported only when a `vllm:` model is loaded.

Options follow the path as a query string: `vllm:./model?tp=2&dtype=bfloat16&gpu_memory_utilization=0.8
&max_model_len=8192`; `tp` (tensor parallelism) shards the model over that many GPUs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.chat_template import build_response, render_chat, template_supports_tools
from phalanx.models.errors import ModelSpecError, ModelUnavailable
from phalanx.models.grammar import schema_for
from phalanx.models.hf import check_model_dir
from phalanx.models.hf_options import split_options
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message

INSTALL_HINT = (
    "install the extra with `pip install 'phalanx[vllm]'` on a machine with a CUDA GPU, or use hf:PATH"
)
_ids = itertools.count(1)


def structured_output(schema: dict[str, Any] | None) -> dict[str, Any]:
    """`SamplingParams` keyword for vLLM's guided decoding to a JSON schema (both API generations)."""
    if schema is None:
        return {}
    try:  # vLLM >= 0.10.2
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(json=schema)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=schema)}


def sampling_params(config: GenerationConfig, schema: dict[str, Any] | None = None) -> Any:
    """Map a `GenerationConfig` (and a JSON schema to constrain to) to vLLM `SamplingParams`."""
    from vllm import SamplingParams

    return SamplingParams(
        **structured_output(schema),
        temperature=(config.temperature or 1.0) if config.sampling else 0.0,
        top_p=config.top_p if config.sampling else 1.0,
        top_k=(config.top_k or -1) if config.sampling else -1,  # vLLM: -1 disables top-k
        repetition_penalty=config.repetition_penalty,
        max_tokens=config.max_new_tokens,
        seed=config.seed,
        stop=list(config.stop) or None,
    )


class VLLMChatModel:
    """A chat model on vLLM's `AsyncLLMEngine`.

    Args:
        path: model directory written by `save_pretrained`.
        name: reported as `ChatResponse.model`.
        **engine_args: passed to vLLM's `AsyncEngineArgs` (e.g. `gpu_memory_utilization`,
            `max_model_len`, `tensor_parallel_size`: the `tp` option, GPUs to shard over).

    Raises:
        ModelSpecError: `path` is not a model directory.
        ModelUnavailable: vLLM is not installed, no CUDA GPU is visible, or fewer GPUs
            than `tensor_parallel_size`.
    """

    def __init__(self, path: str | Path, *, name: str | None = None, **engine_args: Any) -> None:
        path = Path(path).expanduser()
        if not check_model_dir(path):
            raise ModelSpecError(f"vllm model path {path} does not exist; pass a local model directory")
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as exc:
            raise ModelUnavailable(f"vllm:{path}: vLLM is not installed; {INSTALL_HINT}") from exc
        import torch

        if not torch.cuda.is_available():
            raise ModelUnavailable(f"vllm:{path}: no CUDA GPU is visible; {INSTALL_HINT}")
        shards = int(engine_args.get("tensor_parallel_size", 1))
        if shards > torch.cuda.device_count():
            raise ModelUnavailable(
                f"vllm:{path}: tp={shards} needs {shards} GPUs, {torch.cuda.device_count()} visible; lower tp"
            )
        from transformers import AutoTokenizer

        self.name = name or f"vllm:{path}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.supports_tools = template_supports_tools(self.tokenizer, self.name)
        self.engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(model=str(path), **engine_args))

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Generate one answer; vLLM batches concurrent calls on the GPU.

        `json_mode` True or a schema uses vLLM's guided decoding (valid JSON of the schema).
        """
        config = config or GenerationConfig()
        schema = schema_for(json_mode)
        prompt = render_chat(
            self.tokenizer,
            messages,
            tools=tools,
            json_mode=schema is not None,
            supports_tools=self.supports_tools,
        )
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        final, sent = None, 0
        async for output in self.engine.generate(
            {"prompt_token_ids": ids}, sampling_params(config, schema), request_id=f"phalanx-{next(_ids)}"
        ):
            final = output.outputs[0]
            if on_token is not None and len(final.text) > sent:
                on_token(final.text[sent:])
                sent = len(final.text)
        if final is None:
            raise ModelUnavailable(f"{self.name}: the engine returned no output")
        return build_response(
            final.text,
            finish_reason="length" if final.finish_reason == "length" else "stop",
            prompt_tokens=len(ids),
            completion_tokens=len(final.token_ids),
            tools=tools,
            json_mode=schema is not None,
            supports_tools=self.supports_tools,
            model=self.name,
        )

    async def aclose(self) -> None:
        """Shut the engine down (frees GPU memory)."""
        shutdown = getattr(self.engine, "shutdown", None)
        if callable(shutdown):
            shutdown()


VLLM_OPTIONS = {
    "tp": ("tensor_parallel_size", int),
    "dtype": ("dtype", str),
    "gpu_memory_utilization": ("gpu_memory_utilization", float),
    "max_model_len": ("max_model_len", int),
    "name": ("name", str),
}
"""Spec option -> (`VLLMChatModel` / `AsyncEngineArgs` keyword, type)."""


def vllm_options(target: str) -> tuple[str, dict[str, Any]]:
    """`PATH?tp=2&...` -> `(PATH, keyword arguments)`, checked before vLLM or a GPU is needed.

    Raises:
        ModelSpecError: an unknown option or a bad value.
    """
    path, options = split_options(target)
    unknown = set(options) - set(VLLM_OPTIONS)
    if unknown:
        raise ModelSpecError(
            f"unknown vllm: option(s) {sorted(unknown)} in {target!r}; known: {sorted(VLLM_OPTIONS)}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        name, kind = VLLM_OPTIONS[key]
        try:
            kwargs[name] = kind(value)
        except ValueError as exc:
            raise ModelSpecError(
                f"vllm: option {key}={value!r} in {target!r} is not "
                + ("an integer" if kind is int else "a number")
            ) from exc
    if kwargs.get("tensor_parallel_size", 1) < 1:
        raise ModelSpecError(f"vllm: option tp must be >= 1 in {target!r}")
    if not 0 < kwargs.get("gpu_memory_utilization", 0.5) <= 1:
        raise ModelSpecError(f"vllm: option gpu_memory_utilization must be in (0, 1] in {target!r}")
    return path, kwargs


@register_backend("vllm")
def _load(target: str) -> VLLMChatModel:
    path, kwargs = vllm_options(target)
    return VLLMChatModel(path, **kwargs)
