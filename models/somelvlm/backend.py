"""`vlm:PATH`: a transformers vision-language model (LLaVA family) behind the `ChatModel` protocol.

The directory holds a model `AutoModelForImageTextToText` loads (`LlavaForConditionalGeneration`,
LLaVA-NeXT, ...) and its processor, whose chat template turns image parts into the image
placeholder. Messages carry images as OpenAI-style parts (`Message.user(text, images=[...])`,
or `{"type": "image_url", "image_url": {"url": ...}}` over the OpenAI-compatible server);
the URL is a `data:` URI, a `file://` URL or a local path. Remote URLs are refused: the
node never reaches the network, fetch the image first.

Options: `vlm:DIR?device=cpu&dtype=float32`. Requests run one at a time on a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.chat_template import JSON_MODE_INSTRUCTION, build_response
from phalanx.models.errors import ModelRequestError, ModelSpecError, ModelUnavailable
from phalanx.models.hf_generate import find_stop, generate_kwargs
from phalanx.models.hf_options import DTYPES, split_options
from phalanx.models.types import ChatResponse, GenerationConfig, ImagePart, JsonMode, Message, TextPart


def load_image(part: ImagePart) -> Any:
    """The PIL image an image part points at (`data:` URI, `file://` URL or local path).

    Raises:
        ModelRequestError: a remote URL, a missing file, or bytes PIL cannot read.
    """
    from PIL import Image, UnidentifiedImageError

    url = part.image_url.url
    try:
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if ";base64" not in header:
                raise ModelRequestError(f"image data URI {url[:40]!r}... is not base64-encoded")
            return Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB")
        if url.startswith(("http://", "https://")):
            raise ModelRequestError(
                f"image {url!r}: vision nodes do not fetch remote images; download it and pass a data URI or path"
            )
        path = Path(url.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise ModelRequestError(f"image {url!r}: no such file")
        return Image.open(path).convert("RGB")
    except (UnidentifiedImageError, ValueError, OSError) as exc:
        raise ModelRequestError(f"image {url[:60]!r}: not a readable image ({exc})") from exc


def processor_conversation(messages: Sequence[Message]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Messages in the processor's chat format (`{"type": "image"}` placeholders) and their images in order."""
    conversation, images = [], []
    for m in messages:
        role = m.role if m.role in ("system", "user", "assistant") else "user"
        if m.parts is None:
            text = m.content or ""
            if m.role == "tool":  # vision templates know no tool role: show the result as text
                text = f"Tool result: {text}"
            conversation.append({"role": role, "content": [{"type": "text", "text": text}]})
            continue
        content: list[dict[str, Any]] = []
        for part in m.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            else:
                images.append(load_image(part))
                content.append({"type": "image"})
        conversation.append({"role": role, "content": content})
    return conversation, images


class VisionChatModel:
    """A `ChatModel` over a transformers image-text-to-text model and its processor.

    Args:
        model: a loaded `PreTrainedModel` with `generate` (e.g. `LlavaForConditionalGeneration`).
        processor: its processor (tokenizer, image processor, chat template).
        name: reported as `ChatResponse.model`.
    """

    supports_tools = False

    def __init__(self, model: Any, processor: Any, *, name: str = "vlm") -> None:
        if not getattr(processor, "chat_template", None):
            raise ModelSpecError(f"{name}: the processor has no chat template; save one with the processor")
        self.model = model
        self.processor = processor
        self.name = name
        self._lock = asyncio.Lock()

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Answer the conversation, images included; `tools` are not supported (text protocol only)."""
        cfg = config or GenerationConfig()
        conversation, images = processor_conversation(messages)
        if json_mode:
            conversation.insert(
                0, {"role": "system", "content": [{"type": "text", "text": JSON_MODE_INSTRUCTION}]}
            )
        async with self._lock:
            text, prompt_tokens, new_tokens = await asyncio.to_thread(
                self._generate, conversation, images, cfg
            )
        cut = find_stop(text, cfg.stop)
        if cut >= 0:
            text = text[:cut]
        if on_token is not None:
            on_token(text)
        finish: Literal["stop", "length"] = (
            "length" if new_tokens >= cfg.max_new_tokens and cut < 0 else "stop"
        )
        return build_response(
            text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=new_tokens,
            tools=None,
            json_mode=bool(json_mode),
            supports_tools=False,
            model=self.name,
        )

    def _generate(self, conversation: list[dict[str, Any]], images: list[Any], cfg: GenerationConfig):
        import torch

        prompt = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(images=images or None, text=[prompt], return_tensors="pt")
        inputs = inputs.to(self.model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        tokenizer = self.processor.tokenizer
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed)
        with torch.no_grad():
            out = self.model.generate(**inputs, **generate_kwargs(cfg), pad_token_id=tokenizer.pad_token_id)
        new = out[0, inputs["input_ids"].shape[1] :]
        ended = tokenizer.eos_token_id is not None and len(new) > 0 and int(new[-1]) == tokenizer.eos_token_id
        # A reply that ended on EOS is complete even when it used every allowed token.
        count = len(new) - 1 if ended else len(new)
        return tokenizer.decode(new, skip_special_tokens=True), int(inputs["input_ids"].shape[1]), count

    async def aclose(self) -> None:
        return None


def load_vision_pretrained(
    path: str | Path, *, device: str | None = None, dtype: str = "auto"
) -> tuple[Any, Any]:
    """Load an image-text-to-text model and its processor from a directory.

    Raises:
        ModelSpecError: no such directory.
        ModelUnavailable: transformers cannot load a vision-language model from it.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    root = Path(path).expanduser()
    if not root.is_dir():
        raise ModelSpecError(f"vlm: {root} is not a directory holding a vision-language model")
    torch_dtype = None if dtype == "auto" else getattr(torch, dtype)
    try:
        processor = AutoProcessor.from_pretrained(root)
        model = AutoModelForImageTextToText.from_pretrained(root, dtype=torch_dtype or "auto")
    except Exception as exc:  # transformers raises OSError/ValueError/KeyError for foreign folders
        raise ModelUnavailable(
            f"vlm: transformers cannot load a vision-language model from {root} ({exc})"
        ) from exc
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))  # type: ignore[arg-type]
    model.eval()
    return model, processor


def vision_options(target: str, scheme: str = "vlm") -> tuple[str, dict[str, Any]]:
    """`PATH?device=..&dtype=..` -> `(PATH, load options)`.

    Raises:
        ModelSpecError: an option other than `device` and `dtype`, or an unknown dtype.
    """
    spec, options = split_options(target)
    unknown = set(options) - {"device", "dtype"}
    if unknown:
        raise ModelSpecError(
            f"unknown {scheme}: option(s) {sorted(unknown)} in {target!r}; known: device, dtype"
        )
    dtype = options.get("dtype") or "auto"
    if dtype not in DTYPES:
        raise ModelSpecError(f"{scheme}: option dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return spec, {"device": options.get("device") or None, "dtype": dtype}


@register_backend("vlm")
def _load(target: str) -> VisionChatModel:
    spec, load = vision_options(target)
    model, processor = load_vision_pretrained(spec, **load)
    return VisionChatModel(model, processor, name=f"vlm:{spec}")
