"""GGUF -> a plain transformers checkpoint (bfloat16 safetensors, tokenizer with chat template)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from phalanx.models.errors import ModelError, ModelStoreError


def require_gguf_support(error: type[ModelError] = ModelStoreError) -> None:
    """Raise `error` unless the packages transformers needs to read GGUF files are importable."""
    missing = []
    for package in ("gguf", "accelerate"):
        try:
            importlib.import_module(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise error(
            f"reading GGUF files needs the {' and '.join(missing)} package(s), which phalanx depends on; "
            f"install them with `pip install {' '.join(missing)}` (or reinstall phalanx)"
        )


@contextmanager
def _quiet_transformers() -> Any:
    # transformers draws tqdm bars for dequantizing and saving; the CLI shows its own status.
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def convert_gguf(gguf: Path, out_dir: Path, on_stage: Callable[[str], None] | None = None) -> None:
    """Write `gguf` to `out_dir` as a bfloat16 safetensors checkpoint that `hf:` loads.

    bfloat16 loses nothing that matters: the weights come from a 4-bit quantization
    (their rounding error is far below it), the checkpoint is half the size, and `hf:`
    computes in bfloat16 where the CPU does so natively, else in float32 (see
    `phalanx.models.hf.compute_dtype`).

    transformers dequantizes GGUF weights on load but refuses to `save_pretrained` a
    GGUF-loaded model, so the weights are moved into a model built from the same config
    (without its `quantization_config`) and that one is saved.

    Raises:
        ModelStoreError: gguf/accelerate missing, or transformers cannot read the file.
    """
    require_gguf_support()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stage = on_stage or (lambda _: None)
    with _quiet_transformers():
        try:
            stage("reading the tokenizer and chat template")
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            stage("dequantizing the weights to float32")
            loaded = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelStoreError(f"transformers cannot load the GGUF file {gguf.name}: {exc}") from exc
        stage("saving safetensors, tokenizer and generation config")
        settings = loaded.config.to_dict()
        settings.pop("quantization_config", None)
        config = type(loaded.config).from_dict(settings)
        # Built on the meta device and filled with `assign=True`: no random init of 135M weights
        # that would be overwritten at once. Only saved, never run (its rotary buffers stay on meta).
        with torch.device("meta"):
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        weights = {k: v.to(torch.bfloat16) for k, v in loaded.state_dict().items()}
        plain.load_state_dict(weights, strict=True, assign=True)
        plain.tie_weights()
        plain.generation_config = loaded.generation_config
        plain.save_pretrained(str(out_dir))
        tokenizer.model_max_length = getattr(config, "max_position_embeddings", None) or int(1e30)
        tokenizer.save_pretrained(str(out_dir))
