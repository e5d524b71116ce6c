"""Fixtures of the model-layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def varied_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose continuations differ from prompt to prompt.

    With transformers' default init (std 0.02) a tiny random model repeats one token
    whatever the prompt, which would make "batched equals one-by-one" hold trivially.
    """
    from phalanx.models.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("varied-llama"), initializer_range=0.3)


@pytest.fixture(scope="session")
def tools_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a chat template that renders `tools` (native tool support)."""
    from phalanx.models.tiny import CHAT_TEMPLATE, build_tiny_checkpoint

    out = build_tiny_checkpoint(tmp_path_factory.mktemp("tools-llama"))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    tok.chat_template = (
        "{% if tools %}<|system|>Tools: {{ tools | tojson }}. Answer with "
        '<tool_call>{"name": ..., "arguments": {...}}</tool_call>.<|end|>{% endif %}' + CHAT_TEMPLATE
    )
    tok.save_pretrained(out)
    return out
