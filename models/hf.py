"""`hf:PATH_OR_DIR`: a transformers causal LM in this process, served by phalanx's engine.

Concurrent `chat` calls share one worker thread that decodes every running request
together (`phalanx.models.engine`: continuous batching, prompt prefixes shared across
rows and cached across calls, JSON-schema-constrained decoding), so many agents sharing
one small model get batch throughput while the event loop stays free. A model whose
attention the engine cannot drive (it checks at load time) runs on batched `generate`
calls instead (`phalanx.models.hf_generate`, collected by a `MicroBatcher`).

Options can follow the path as a query string:
`hf:./model?device=cpu&dtype=auto&window_ms=5&max_batch=32&prefix_cache_mb=1024&engine=on&constrain=on`.
Schemes built on `hf:` (`longheads:`, `hag:`, `r3:`, `regions:`) take the same options
(`phalanx.models.hf_options`).

Seams for later layers: `HFChatModel(model, tokenizer)` wraps an already-built model
(a trainer's policy, a model with patched attention and `context_limit=None`);
`generation_lock` lets a trainer update weights in place between steps (then call
`weights_changed`); and `generate_kwargs` is the one place a `GenerationConfig` becomes
transformers `generate` arguments.

`on_token` receives the raw generated text, tool-call markup included; the parsed
calls arrive in the final `ChatResponse`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.batching import MicroBatcher
from phalanx.models.chat_template import (
    JSON_MODE_INSTRUCTION,
    build_response,
    render_chat,
    template_supports_tools,
)
from phalanx.models.engine import GenerationEngine
from phalanx.models.errors import ModelRequestError, ModelSpecError, ModelUnavailable
from phalanx.models.grammar import GrammarCompiler, schema_for
from phalanx.models.hf_generate import (
    GenerateStats,
    GenRequest,
    GenResult,
    batch_key,
    generate_batch,
    generate_kwargs,
)
from phalanx.models.hf_options import DTYPES, hf_options, split_options
from phalanx.models.prefix_cache import PrefixCache
from phalanx.models.store import resolve_hf_target
from phalanx.models.store.convert import require_gguf_support
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message

logger = logging.getLogger(__name__)

__all__ = ["JSON_MODE_INSTRUCTION", "HFChatModel", "generate_kwargs", "load_hf_model", "load_pretrained"]

_uids = itertools.count(1)


class HFChatModel:
    """A chat model over a transformers causal LM and its tokenizer's chat template.

    Generation runs on phalanx's engine (`phalanx.models.engine`: continuous batching,
    shared-prefix attention, a prefix cache) when the model passes the engine's
    self-test at load time, and otherwise on batched `generate` calls.

    Args:
        model: a loaded `PreTrainedModel` with `generate` (moved to its device already).
        tokenizer: its tokenizer; must have a chat template.
        name: reported as `ChatResponse.model`.
        window_s: micro-batching window after the first waiting request.
        max_batch_size: most requests generated together (1 disables batching).
        context_limit: longest prompt + `max_new_tokens` accepted; "auto" takes the
            model's `max_position_embeddings`, None accepts anything (for models whose
            attention is extended past their pretrained length).
        prefix_cache_mb: memory for stored prompt prefixes (0 turns the cache off).
        engine: use the engine when the model passes its self-test (False: always
            batched `generate`).
        constrain: constrain decoding to the JSON schema of `json_mode` (False: JSON mode
            only adds an instruction to the prompt, as on backends without constraints;
            for measuring what the constraint is worth).
        split_prefill: without the engine, prefill prompts apart from `generate` and merge
            their caches (`phalanx.models.hf_generate`); False lets `generate` build the
            model's own cache (models whose attention keeps a cache of its own, LongHeads).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "hf",
        window_s: float = 0.005,
        max_batch_size: int = 32,
        context_limit: int | None | Literal["auto"] = "auto",
        prefix_cache_mb: int = 1024,
        engine: bool = True,
        constrain: bool = True,
        split_prefill: bool = True,
    ) -> None:
        self.model = model
        self.split_prefill = split_prefill
        self.tokenizer = tokenizer
        self.name = name
        self.supports_tools = template_supports_tools(tokenizer, name)
        """True when the chat template renders `tools`; calls are then parsed from the text."""
        self.supports_json_schema = constrain
        """`json_mode` with a schema constrains decoding: replies are valid JSON of the schema."""
        if context_limit == "auto":
            context_limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.context_limit: int | None = context_limit
        self.generation_lock = threading.Lock()
        """Held while a batch generates; hold it to change the weights (then call `weights_changed`)."""
        self.generate_stats = GenerateStats()
        """Counters of the batched `generate` calls (the path used without the engine)."""
        self.engine: GenerationEngine | None = None
        self.engine_problem: str | None = "turned off (engine=False)"
        """Why the engine is not used (None when it is)."""
        self._grammar: GrammarCompiler | None = None
        if engine:
            candidate = GenerationEngine(
                model,
                tokenizer,
                max_rows=max_batch_size,
                window_s=window_s,
                prefix_cache=PrefixCache(budget_bytes=max(0, prefix_cache_mb) << 20),
                lock=self.generation_lock,
                name=name,
            )
            self.engine_problem = (
                candidate.checked() if candidate.usable else "the model's attention cannot be switched"
            )
            if self.engine_problem is None:
                self.engine = candidate
            else:
                logger.warning("%s: generating with batched generate: %s", name, self.engine_problem)
        self.batcher: Any
        """The scheduler (`engine.stats` / `MicroBatcher.stats`: requests, batches, sizes)."""
        if self.engine is not None:
            self.batcher = self.engine
        else:
            self.batcher = MicroBatcher(
                self._run_batch, window_s=window_s, max_batch_size=max_batch_size, key=batch_key, name=name
            )

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | None = None, dtype: str = "auto", **options: Any
    ) -> HFChatModel:
        """Load a model directory written by `save_pretrained` (never downloads).

        Args:
            path: the directory (or a model id already in the local Hugging Face cache).
            device: `cpu`, `cuda`, `cuda:1`...; default: CUDA when available, else CPU.
            dtype: `auto` (see `compute_dtype`), `float32`, `bfloat16` or `float16`.
            **options: `window_s`, `max_batch_size`, `name`, `prefix_cache_mb`, `engine`, `constrain` for
                the constructor.

        Raises:
            ModelSpecError: the path does not exist, is not a model directory, or
                holds files transformers cannot load.
        """
        model, tokenizer = load_pretrained(Path(path), device, dtype)
        options.setdefault("name", f"hf:{path}")
        return cls(model, tokenizer, **options)

    def _run_batch(self, requests: list[GenRequest]) -> list[GenResult]:
        with self.generation_lock:
            return generate_batch(
                self.model, self.tokenizer, requests, self.generate_stats, split_prefill=self.split_prefill
            )

    def render_prompt(
        self,
        messages: Sequence[Message],
        tools: list[dict[str, Any]] | None = None,
        json_mode: bool = False,
    ) -> list[int]:
        """Token ids of the chat-template prompt for `messages`, ending at the assistant turn.

        Raises:
            ModelRequestError: no messages, or the chat template rejects the conversation.
        """
        if not messages:
            raise ModelRequestError(f"{self.name}: chat needs at least one message")
        try:
            text = render_chat(
                self.tokenizer, messages, tools=tools, json_mode=json_mode, supports_tools=self.supports_tools
            )
        except Exception as exc:  # jinja2 TemplateError and friends raised by the template itself
            raise ModelRequestError(
                f"{self.name}: the chat template rejected the conversation: {exc}"
            ) from exc
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Answer `messages`; concurrent calls are generated together.

        `json_mode` True or a JSON schema constrains decoding so the reply is valid
        JSON (of the schema).

        Raises:
            ModelRequestError: empty conversation, template error, a schema that cannot
                be compiled, or prompt plus `max_new_tokens` longer than `context_limit`.
        """
        config = config or GenerationConfig()
        schema = schema_for(json_mode)
        ids = self.render_prompt(messages, tools, schema is not None)
        if self.context_limit is not None and len(ids) + config.max_new_tokens > self.context_limit:
            raise ModelRequestError(
                f"{self.name}: prompt of {len(ids)} tokens + max_new_tokens {config.max_new_tokens} exceeds "
                f"the context limit {self.context_limit}; shorten the conversation or lower max_new_tokens"
            )
        grammar = (
            self.grammar_compiler().matcher(schema)
            if schema is not None and self.supports_json_schema
            else None
        )
        sink = None
        if on_token is not None:
            loop = asyncio.get_running_loop()

            # Generation runs in a worker thread; hand each piece back to this loop,
            # in order, before the result (call_soon_threadsafe is FIFO).
            def sink(piece: str) -> None:
                loop.call_soon_threadsafe(on_token, piece)

        request = GenRequest(ids, config, sink, uid=next(_uids), grammar=grammar)
        if self.engine is not None:
            result = await asyncio.wrap_future(self.engine.submit(request))
        else:
            result = await self.batcher.submit(request)
        return self._to_response(result, tools, schema is not None)

    def grammar_compiler(self) -> GrammarCompiler:
        """The JSON grammar compiler for this model's tokenizer (built on first use)."""
        if self.engine is not None:
            return self.engine.grammar_compiler()
        if self._grammar is None:
            from phalanx.models.hf_generate import _eos_and_pad

            vocab = self.model.get_output_embeddings().weight.shape[0]
            self._grammar = GrammarCompiler(
                self.tokenizer, vocab, _eos_and_pad(self.model, self.tokenizer)[1]
            )
        return self._grammar

    def weights_changed(self) -> None:
        """Forget cached prompt prefixes; call after changing the weights in place."""
        if self.engine is not None:
            self.engine.clear_cache()

    def _to_response(
        self, result: GenResult, tools: list[dict[str, Any]] | None, json_mode: bool
    ) -> ChatResponse:
        # A constrained row that hit its limit is an incomplete JSON object: callers'
        # validation reports it (finish_reason "length").
        return build_response(
            result.text,
            finish_reason=result.finish_reason,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=len(result.token_ids),
            tools=tools,
            json_mode=json_mode,
            supports_tools=self.supports_tools,
            model=self.name,
        )

    async def aclose(self) -> None:
        """Stop the generation worker; the weights are freed when the object is dropped."""
        if self.engine is not None:
            self.engine.close(wait_s=5.0)
        else:
            await self.batcher.aclose()


def check_model_dir(path: Path) -> bool:
    """Check an `hf:`/`vllm:` target; True when it is a local model directory.

    False means "not a local path": the caller may still look it up in the local
    Hugging Face cache.

    Raises:
        ModelSpecError: a file, a directory without `config.json`, or an explicit
            local path (`./`, `/`, `~`) that does not exist.
    """
    if path.exists():
        if not path.is_dir():
            raise ModelSpecError(
                f"model path {path} is a file; pass the directory written by save_pretrained"
            )
        if not (path / "config.json").is_file():
            raise ModelSpecError(
                f"{path} is not a model directory (no config.json); pass a directory written by "
                "`save_pretrained`, e.g. one made with phalanx.models.tiny.build_tiny_checkpoint"
            )
        return True
    if str(path).startswith((".", "/", "~")):
        raise ModelSpecError(f"model path {path} does not exist; pass a local model directory")
    return False


def compute_dtype(requested: str, device: str, saved: str | None) -> Any:
    """The dtype to load a model in.

    `auto` keeps the checkpoint's own dtype, as transformers does, with one exception
    on a CPU: half-precision checkpoints run in bfloat16 only where the CPU computes it
    natively (AVX512-BF16 or AMX: about 2.5x faster prefill and 2x faster decoding than
    float32 for SmolLM2-135M on this project's CI machines) and in float32 elsewhere
    (emulated bfloat16 is slower than float32). A GGUF file counts as half precision.

    Raises:
        ModelSpecError: an unknown dtype name.
    """
    import torch

    if requested not in DTYPES:
        raise ModelSpecError(f"hf: dtype must be one of {', '.join(DTYPES)}, got {requested!r}")
    if requested != "auto":
        return getattr(torch, requested)
    if device != "cpu":
        return "auto"
    half = saved in ("bfloat16", "float16", "gguf")
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.bfloat16 if half and native else torch.float32


def _saved_dtype(path: Path, gguf_file: str | None) -> str | None:
    if gguf_file:
        return "gguf"
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = config.get("dtype") or config.get("torch_dtype")
    return value if isinstance(value, str) else None


def load_pretrained(path: Path, device: str | None, dtype: str | None = "auto") -> tuple[Any, Any]:
    """`(model, tokenizer)` from a model directory, store name or GGUF file, in eval mode on `device`.

    Raises:
        ModelSpecError: not a loadable model, or an unknown `dtype`.
        ModelUnavailable: a CUDA device asked for where none is visible.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Store names (`hf:smollm2-135m-instruct`) and GGUF files resolve first; see phalanx.models.store.
    path, gguf_file = resolve_hf_target(path)
    is_dir = True if gguf_file else check_model_dir(path)
    gguf = {"gguf_file": gguf_file} if gguf_file else {}
    if gguf:
        require_gguf_support(ModelUnavailable)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(
            f"hf:{path}: device {device!r} asked for, but no CUDA GPU is visible; use device=cpu"
        )
    dtype = compute_dtype(dtype or "auto", device, _saved_dtype(path, gguf_file))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True, **gguf)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=dtype, **gguf)
    except (OSError, ValueError, KeyError) as exc:
        if not is_dir:
            raise ModelSpecError(
                f"hf model {str(path)!r} is neither a local directory nor in the local Hugging Face cache "
                "(phalanx never downloads); pass a directory written by save_pretrained"
            ) from exc
        raise ModelSpecError(f"cannot load hf model from {path}: {exc}") from exc
    model.to(device)  # type: ignore[arg-type]  # transformers types `to` through a wrapper
    model.eval()
    return model, tokenizer


def load_hf_model(target: str) -> HFChatModel:
    """Build an `HFChatModel` from the part of an `hf:` spec after the colon.

    Raises:
        ModelSpecError: bad path or unknown option.
    """
    path, options = split_options(target)
    load, kwargs = hf_options(options, target)
    return HFChatModel.from_pretrained(Path(path).expanduser(), **load, **kwargs)


@register_backend("hf")
def _load(target: str) -> HFChatModel:
    return load_hf_model(target)
