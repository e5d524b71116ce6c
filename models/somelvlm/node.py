"""`somelvlm:PATH`: a SoMeLVLM-tuned vision-language checkpoint that knows its social-media tasks.

The checkpoint is a phalanx checkpoint (`phalanx.somelvlm` format): the LLaVA-family model
and its processor as `save_pretrained` writes them, and under `extras.somelvlm` of the
manifest the task templates it was tuned on, so `run_task` asks in the phrasing it learnt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from phalanx.models.base import register_backend
from phalanx.models.checkpoints.format import MANIFEST, read_checkpoint, save_checkpoint
from phalanx.models.errors import CheckpointError, ModelRequestError, ModelUnavailable
from phalanx.models.somelvlm.backend import VisionChatModel, load_vision_pretrained, vision_options
from phalanx.models.somelvlm.tasks import TASKS, SocialPost, TaskTemplate, post_messages
from phalanx.models.types import GenerationConfig

FORMAT = "phalanx.somelvlm"


class SoMeLVLMSettings(BaseModel):
    """What a SoMeLVLM checkpoint records (`extras.somelvlm`)."""

    tasks: dict[str, TaskTemplate] = dict(TASKS)
    """The task templates it was tuned on, by name."""
    base_model: str | None = None


def save_somelvlm_checkpoint(
    directory: str | Path, model: Any, processor: Any, settings: SoMeLVLMSettings | None = None
) -> Path:
    """Write a tuned vision-language model that `somelvlm:DIRECTORY` loads with its task templates."""
    chosen = settings or SoMeLVLMSettings()
    return save_checkpoint(
        directory,
        model=model,
        tokenizer=processor,
        format=FORMAT,
        extras={"somelvlm": chosen.model_dump()},
        base_model=chosen.base_model,
    )


class SoMeLVLMChatModel(VisionChatModel):
    """A `VisionChatModel` with the social-media task templates it was tuned on.

    Args:
        model, processor, name: as `VisionChatModel`.
        tasks: the task templates (default: the built-in ones).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str = "somelvlm",
        tasks: dict[str, TaskTemplate] | None = None,
    ) -> None:
        super().__init__(model, processor, name=name)
        self.tasks = dict(tasks or TASKS)

    async def run_task(self, task: str, text: str, image: str | None = None, **kwargs: Any) -> str:
        """Ask one task about one post (`image`: a path or data URI) and return the reply text.

        Raises:
            ModelRequestError: a task this checkpoint was not tuned on.
        """
        template = self.tasks.get(task)
        if template is None:
            raise ModelRequestError(
                f"{self.name}: unknown task {task!r}; tasks: {', '.join(sorted(self.tasks))}"
            )
        post = SocialPost(task=task, text=text, image=image, answer="")
        config = kwargs.pop("config", None) or GenerationConfig(max_new_tokens=32)
        reply = await self.chat(post_messages(post, template), config=config, **kwargs)
        return reply.message.content or ""


def load_somelvlm_model(target: str) -> SoMeLVLMChatModel:
    """Load `somelvlm:PATH?device=..&dtype=..`.

    Raises:
        CheckpointError: see `read_checkpoint`; also bad task templates in the manifest or
            weights transformers cannot load.
        ModelSpecError: an unknown option.
    """
    spec, load = vision_options(target, scheme="somelvlm")
    root = Path(spec).expanduser()
    manifest = read_checkpoint(root, FORMAT)
    try:
        settings = SoMeLVLMSettings.model_validate(manifest.extras.get("somelvlm", {}))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(map(str, problem["loc"]))
        raise CheckpointError(f"{root / MANIFEST}: extras.somelvlm.{where}: {problem['msg']}") from exc
    try:
        model, processor = load_vision_pretrained(root, **load)
    except ModelUnavailable as exc:
        raise CheckpointError(f"{root}: {exc}") from exc
    return SoMeLVLMChatModel(model, processor, name=f"somelvlm:{spec}", tasks=settings.tasks)


@register_backend("somelvlm")
def _load(target: str) -> SoMeLVLMChatModel:
    return load_somelvlm_model(target)
