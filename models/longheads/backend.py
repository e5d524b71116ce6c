"""`longheads:SPEC?chunk=256&budget=4096`: an `hf:` model with LongHeads attention.

SPEC is anything `hf:` accepts (a directory, a model-store name, a GGUF file, with or
without the `hf:` prefix); `hf:` options (`device`, `dtype`, ...) may follow `chunk` and
`budget` in the same query string. The model serves one sequence at a time through
batched `generate` (the engine's shared-prefix attention does not apply to it) and takes
prompts longer than its pretrained window (`context_limit=None`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phalanx.models.base import register_backend
from phalanx.models.errors import ModelSpecError, ModelUnavailable

DEFAULT_CHUNK = 256
DEFAULT_BUDGET = 4096


def check_settings(chunk: int, budget: int, config: Any | None = None) -> None:
    """Raise `ModelSpecError` unless `chunk`/`budget` make a LongHeads configuration for `config`."""
    if chunk < 1 or budget < 1:
        raise ModelSpecError(
            f"LongHeads chunk and budget must be positive, got chunk={chunk} budget={budget}"
        )
    if budget % chunk:
        raise ModelSpecError(f"LongHeads budget {budget} must be a multiple of chunk {chunk}")
    if budget // chunk < 3:
        raise ModelSpecError(
            f"LongHeads budget {budget} holds {budget // chunk} chunks of {chunk}; it needs at least 3 "
            "(first chunk, previous chunk, own chunk)"
        )
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and budget > limit:
        raise ModelSpecError(
            f"LongHeads budget {budget} exceeds the model's {limit} trained positions; positions up to "
            "budget-1 must stay inside them (that is the point of LongHeads): lower the budget"
        )


def install_longheads(model: Any, *, chunk: int = DEFAULT_CHUNK, budget: int = DEFAULT_BUDGET) -> Any:
    """Switch a loaded Llama-family transformers model to LongHeads attention, in place.

    Afterwards every forward pass uses LongHeads, and `generate` keeps a `LongHeadsCache`
    of its own (pass `cache=LongHeadsCache(model)` to a plain forward to continue it).

    Args:
        model: a causal LM with rotary embeddings at `model.model.rotary_emb` and decoder
            layers at `model.model.layers[i].self_attn` (Llama, Mistral without a sliding
            window, Qwen2, ...).
        chunk: tokens per chunk.
        budget: tokens each head attends to; a multiple of `chunk`, at least 3 chunks, at
            most the model's `max_position_embeddings`.

    Returns:
        The same model.

    Raises:
        ModelSpecError: the settings do not fit the model, or the model is not of a
            supported shape.
    """
    from transformers import AttentionInterface

    from phalanx.models.longheads.attention import ATTENTION_NAME, longheads_attention
    from phalanx.models.longheads.cache import LongHeadsRuntime, LongHeadsSettings
    from phalanx.models.longheads.rope import RopeTable

    config = model.config
    check_settings(chunk, budget, config)
    inner = getattr(model, "model", None)
    rotary = getattr(inner, "rotary_emb", None)
    layers = getattr(inner, "layers", None)
    if rotary is None or layers is None or not all(hasattr(layer, "self_attn") for layer in layers):
        raise ModelSpecError(
            f"LongHeads needs a Llama-family model with rotary embeddings; {type(model).__name__} is not one"
        )
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        raise ModelSpecError("LongHeads replaces full attention; this model uses a sliding window")
    AttentionInterface.register(ATTENTION_NAME, longheads_attention)
    model.set_attn_implementation(ATTENTION_NAME)
    parameter = next(model.parameters())
    runtime = LongHeadsRuntime(
        LongHeadsSettings(chunk, budget), RopeTable(rotary, parameter.dtype, parameter.device)
    )
    for layer in layers:
        layer.self_attn.longheads_runtime = runtime
    _generate_with_longheads_cache(model)
    model.longheads_settings = runtime.settings
    return model


def _generate_with_longheads_cache(model: Any) -> None:
    """Make `generate` start from a `LongHeadsCache` when the caller passes none."""
    from phalanx.models.longheads.cache import LongHeadsCache

    prepare = model._prepare_cache_for_generation

    def prepare_longheads(generation_config: Any, model_kwargs: dict, *args: Any, **kwargs: Any) -> Any:
        if generation_config.use_cache is not False:
            for name in ("cache", "past_key_values"):
                if model_kwargs.get(name) is not None:
                    break
            else:
                model_kwargs["cache"] = LongHeadsCache(model)
        return prepare(generation_config, model_kwargs, *args, **kwargs)

    model._prepare_cache_for_generation = prepare_longheads


def load_longheads_model(target: str) -> Any:
    """Build the `HFChatModel` for the part of a `longheads:` spec after the colon.

    Raises:
        ModelSpecError: bad SPEC, option or settings.
        ModelUnavailable: this transformers has no cache-layer API (LongHeads needs transformers 5).
    """
    from phalanx.models.hf import HFChatModel, load_pretrained
    from phalanx.models.hf_options import hf_options, split_options

    spec, options = split_options(target)
    spec = spec.removeprefix("hf:")
    if not spec:
        raise ModelSpecError("longheads: needs a model, e.g. longheads:smollm2-135m-instruct?budget=4096")
    try:
        chunk = int(options.pop("chunk", DEFAULT_CHUNK))
        budget = int(options.pop("budget", DEFAULT_BUDGET))
    except ValueError as exc:
        raise ModelSpecError(f"longheads: chunk and budget must be integers in {target!r}: {exc}") from exc
    check_settings(chunk, budget)
    load, chat = hf_options(options, target, scheme="longheads")
    try:
        import transformers.cache_utils as cache_utils

        cache_utils.CacheLayerMixin  # noqa: B018 -- probing the API LongHeads builds on
    except (ImportError, AttributeError) as exc:
        raise ModelUnavailable("longheads: needs transformers >= 5 (its cache-layer API)") from exc
    model, tokenizer = load_pretrained(Path(spec).expanduser(), **load)
    install_longheads(model, chunk=chunk, budget=budget)
    if chat.get("engine") or chat.get("max_batch_size", 1) > 1:
        # The engine's shared-prefix attention would replace LongHeads, and its cache holds one sequence.
        raise ModelSpecError(
            f"longheads: serves one sequence at a time without the engine; drop engine=on / max_batch from {target!r}"
        )
    chat.pop("engine", None)
    chat.pop("max_batch_size", None)
    chat.setdefault("name", f"longheads:{spec}?chunk={chunk}&budget={budget}")
    return HFChatModel(
        model, tokenizer, engine=False, context_limit=None, max_batch_size=1, split_prefill=False, **chat
    )


@register_backend("longheads")
def _load(target: str) -> Any:
    return load_longheads_model(target)
