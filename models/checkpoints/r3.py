"""`r3:PATH`: a policy saved by the R³ trainer, answering in the prompt format it was trained on.

R³ (Xi et al. 2024, "Training Large Language Models for Reasoning through Reverse
Curriculum Reinforcement Learning") trains with PPO from prompts of the form
`question + "\\n\\n### Response: "` (official `R3_math` data), with a value head on the
policy. The checkpoint keeps only the language model (`save_r3_checkpoint` strips the
value head) and records the prompt format; the loader renders every conversation in that
format (the question is the last user message) instead of the tokenizer's chat
template, and extracts the final answer with the format's `answer_pattern` into
`ChatResponse.details["r3"]["answer"]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, field_validator

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.checkpoints.format import (
    open_checkpoint,
    save_checkpoint,
    weight_names,
)
from phalanx.models.errors import CheckpointError
from phalanx.models.hf import HFChatModel
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message

FORMAT = "phalanx.r3"
VALUE_HEAD_PREFIXES = ("v_head.", "value_head.", "score.", "critic.")
"""State-dict prefixes of a PPO value head (TRL's `v_head`, DeepSpeed-Chat's critic)."""


class PromptFormat(BaseModel):
    """How the R³ policy expects its input and states its answer."""

    template: str = "{question}\n\n### Response: "
    """The prompt; `{question}` (exactly once) is replaced by the question."""
    answer_pattern: str | None = r"answer is[:\s]*\$?(-?[\d,]*\.?\d+)"
    """Regex whose first group is the final answer in the completion (None: no extraction)."""

    @field_validator("template")
    @classmethod
    def _one_question(cls, value: str) -> str:
        if value.count("{question}") != 1:
            raise ValueError("the template must contain {question} exactly once")
        return value

    @field_validator("answer_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if re.compile(value).groups < 1:
                    raise ValueError("the answer pattern needs a capturing group")
            except re.error as exc:
                raise ValueError(f"the answer pattern is not a valid regex: {exc}") from exc
        return value

    def chat_template(self) -> str:
        """A Jinja chat template rendering the last user message in this format."""
        before, after = self.template.split("{question}")
        # JSON string literals are valid Jinja string literals: no escaping of the user's text needed.
        return (
            "{% set question = (messages | selectattr('role', 'equalto', 'user') | list | last)['content'] %}"
            f"{{{{ {json.dumps(before)} }}}}{{{{ question }}}}{{{{ {json.dumps(after)} }}}}"
        )

    def extract(self, completion: str) -> str | None:
        """The final answer in `completion`, or None."""
        if self.answer_pattern is None:
            return None
        match = re.search(self.answer_pattern, completion)
        return match.group(1).replace(",", "") if match else None


def save_r3_checkpoint(
    directory: Any, model: Any, tokenizer: Any, prompt_format: PromptFormat | None = None, **kwargs: Any
) -> Any:
    """Write an R³ policy checkpoint (value head stripped) that `r3:DIRECTORY` loads.

    Args:
        directory: target directory.
        model: the policy: a transformers causal LM, or a wrapper holding one as
            `pretrained_model` (TRL's value-head model).
        tokenizer: its tokenizer.
        prompt_format: the format it was trained with (default: the official R³ one).
        **kwargs: `base_model` for the manifest.
    """
    lm = getattr(model, "pretrained_model", model)
    state = {k: v for k, v in lm.state_dict().items() if not k.startswith(VALUE_HEAD_PREFIXES)}
    fmt = prompt_format or PromptFormat()
    return save_checkpoint(
        directory,
        model=lm,
        tokenizer=tokenizer,
        format=FORMAT,
        extras={"prompt_format": fmt.model_dump()},
        state_dict=state,
        **kwargs,
    )


class R3ChatModel(HFChatModel):
    """An `HFChatModel` for an R³ policy: its prompt format in, its extracted answer out."""

    prompt_format: PromptFormat

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Answer the last user message in the policy's prompt format; the answer goes to `details["r3"]`."""
        reply = await super().chat(
            messages, tools=tools, config=config, json_mode=json_mode, on_token=on_token
        )
        answer = self.prompt_format.extract(reply.message.content or "")
        return reply.model_copy(update={"details": {**reply.details, "r3": {"answer": answer}}})


def load_r3_model(target: str) -> R3ChatModel:
    """Load `r3:PATH?hf-options`.

    Raises:
        CheckpointError: not an R³ checkpoint, damaged files, value-head tensors in the
            weights, or a bad prompt format in the manifest.
    """
    opened = open_checkpoint(target, FORMAT)
    fmt = opened.extras("prompt_format", PromptFormat)
    for file, names in weight_names(opened.path).items():
        stray = [n for n in names if n.startswith(VALUE_HEAD_PREFIXES)]
        if stray:
            raise CheckpointError(
                f"{opened.path / file}: holds value-head tensors ({', '.join(stray[:3])}); an R³ checkpoint "
                "keeps only the policy: save it with save_r3_checkpoint, which strips them"
            )
    opened.tokenizer.chat_template = fmt.chat_template()
    model = R3ChatModel(opened.model, opened.tokenizer, **opened.chat_options)
    model.prompt_format = fmt
    return model


@register_backend("r3")
def _load(target: str) -> R3ChatModel:
    return load_r3_model(target)
