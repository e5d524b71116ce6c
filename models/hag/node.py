"""The HAG node: stage 1 asks the model for its decoding configuration, stage 2 answers with it.

`load_model("hag:SPEC")` wraps an `hf:` model (SPEC: a directory, store name or GGUF file,
with `hf:` options) or loads a HAG-tuned checkpoint (`phalanx.hag` format, written by
`save_hag_checkpoint`, whose manifest records the stage-1 instruction and fallback it was
tuned with). `HagChatModel(inner)` wraps any `ChatModel`.

Stage 1 is constrained to the configuration's JSON schema where the backend supports it
(`supports_json_schema`); elsewhere the reply is parsed best effort. Either way
`parse_choice` validates and clamps it, or takes the fallback. The choice is recorded on
the reply (`ChatResponse.details["hag"]`, a `HagChoice` dump) and passed to every
listener registered with `on_hag_choice` (the agents layer turns it into a run event).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from phalanx.models.base import ChatModel, TokenCallback, register_backend
from phalanx.models.checkpoints.format import MANIFEST, open_checkpoint, save_checkpoint
from phalanx.models.hag.config import FALLBACK_CONFIG, INSTRUCTION, SCHEMA, HagChoice, HagConfig, parse_choice
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message, Usage

FORMAT = "phalanx.hag"
STAGE_ONE = GenerationConfig(temperature=0.0, max_new_tokens=160)
"""Stage 1 decodes greedily; the JSON takes ~40 tokens of a real BPE vocabulary, ~90 of a tiny one."""

ChoiceListener = Callable[[HagChoice], None]
_listeners: list[ChoiceListener] = []


def on_hag_choice(listener: ChoiceListener) -> Callable[[], None]:
    """Call `listener` with every stage-1 choice (in the task that called `chat`); returns an unsubscribe."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


class HagSettings(BaseModel):
    """What a HAG-tuned checkpoint records (`extras.hag`): the prompt and fallback it was tuned with."""

    instruction: str = INSTRUCTION
    fallback: HagConfig = FALLBACK_CONFIG


def stage_one_messages(messages: Sequence[Message], instruction: str = INSTRUCTION) -> list[Message]:
    """The stage-1 conversation: the HAG instruction, then the request (the last user message)."""
    request = next((m.content for m in reversed(messages) if m.role == "user"), None)
    return [Message.system(instruction), Message.user(request or "")]


class HagChatModel:
    """A `ChatModel` that chooses its decoding configuration per request (two-stage HAG).

    Args:
        inner: the model asked in both stages.
        settings: stage-1 instruction and fallback configuration.
        name: reported as `ChatResponse.model` (default `hag:` + the inner name).
    """

    def __init__(
        self, inner: ChatModel, settings: HagSettings | None = None, *, name: str | None = None
    ) -> None:
        self.inner = inner
        self.settings = settings or HagSettings()
        self.name = name or f"hag:{inner.name}"
        self.supports_tools = inner.supports_tools
        self.supports_json_schema = bool(getattr(inner, "supports_json_schema", False))

    async def choose(self, messages: Sequence[Message]) -> tuple[HagChoice, Usage]:
        """Stage 1 alone: the configuration the model picks for `messages`."""
        reply = await self.inner.chat(
            stage_one_messages(messages, self.settings.instruction), config=STAGE_ONE, json_mode=SCHEMA
        )
        text = reply.message.content or ""
        choice = parse_choice(text, self.settings.fallback)
        if reply.finish_reason == "length" and choice.source == "model":
            # A cut-off reply that still parsed (lenient extraction) is not trusted.
            choice = HagChoice(
                config=self.settings.fallback,
                source="fallback",
                problem="stage 1 hit its token limit",
                raw=text,
            )
        for listener in list(_listeners):
            listener(choice)
        return choice, reply.usage

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Choose a configuration (stage 1), then answer with it (stage 2).

        The caller's `config` keeps its stop strings and seed and caps `max_new_tokens`;
        the sampling settings are the model's. `usage` counts both stages.
        """
        choice, first = await self.choose(messages)
        reply = await self.inner.chat(
            messages,
            tools=tools,
            config=choice.config.generation_config(config),
            json_mode=json_mode,
            on_token=on_token,
        )
        usage = Usage(
            prompt_tokens=first.prompt_tokens + reply.usage.prompt_tokens,
            completion_tokens=first.completion_tokens + reply.usage.completion_tokens,
        )
        details = {**reply.details, "hag": choice.model_dump()}
        return reply.model_copy(update={"details": details, "usage": usage, "model": self.name})

    async def aclose(self) -> None:
        await self.inner.aclose()


def save_hag_checkpoint(
    directory: Any, model: Any, tokenizer: Any, settings: HagSettings | None = None, **kwargs: Any
) -> Any:
    """Write a HAG-tuned checkpoint that `hag:DIRECTORY` loads with its own instruction and fallback."""
    extras = {"hag": (settings or HagSettings()).model_dump()}
    return save_checkpoint(
        directory, model=model, tokenizer=tokenizer, format=FORMAT, extras=extras, **kwargs
    )


def load_hag_model(target: str) -> HagChatModel:
    """Load `hag:SPEC?hf-options`: a HAG-tuned checkpoint, or any `hf:` model with the default settings.

    Raises:
        CheckpointError: a damaged HAG checkpoint, or one whose settings are invalid.
        ModelSpecError: a SPEC `hf:` cannot load.
    """
    from pathlib import Path

    from phalanx.models.hf import HFChatModel, load_hf_model
    from phalanx.models.hf_options import split_options

    spec, _ = split_options(target)
    spec = spec.removeprefix("hf:")
    if not (Path(spec).expanduser() / MANIFEST).is_file():
        inner = load_hf_model(target.removeprefix("hf:"))
        return HagChatModel(inner, name=f"hag:{spec}")
    opened = open_checkpoint(target.removeprefix("hf:"), FORMAT)
    settings = opened.extras("hag", HagSettings)
    inner_model = HFChatModel(opened.model, opened.tokenizer, **opened.chat_options)
    return HagChatModel(inner_model, settings, name=f"hag:{spec}")


@register_backend("hag")
def _load(target: str) -> HagChatModel:
    return load_hag_model(target)
