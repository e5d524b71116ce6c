"""Value types shared by every chat-model backend (messages, tool calls, generation config)."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)


def new_call_id() -> str:
    """A fresh OpenAI-style tool-call id."""
    return "call_" + uuid.uuid4().hex[:24]


JsonMode = bool | dict[str, Any]
"""`json_mode` of `ChatModel.chat`: False, True (any JSON object) or a JSON schema."""


class ToolCall(BaseModel):
    """One function call requested by a model, in OpenAI's shape."""

    id: str = Field(default_factory=new_call_id)
    """Unique id the tool result refers back to."""
    name: str
    """Name of the tool to call."""
    arguments: str = "{}"
    """Arguments as JSON text, exactly as the model produced them (may be malformed)."""


class ImageURL(BaseModel):
    """Where an image part's pixels are: an `https://` URL or a `data:image/...;base64,` URI."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None
    """OpenAI's resolution hint (backends that cannot use it ignore it)."""


class TextPart(BaseModel):
    """A text part of OpenAI-style multimodal content."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image part of OpenAI-style multimodal content (`{"type": "image_url", "image_url": {"url": ...}}`)."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL

    @classmethod
    def from_image(cls, image: Any, format: str = "PNG") -> ImagePart:
        """An image part holding a PIL image inline, as a base64 data URI."""
        buffer = io.BytesIO()
        image.save(buffer, format=format)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        return cls(image_url=ImageURL(url=f"data:image/{format.lower()};base64,{data}"))


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]
"""One part of multimodal message content."""


class Message(BaseModel):
    """One chat message (system, user, assistant or tool result).

    Content is text (`content`), or OpenAI-style parts when the message carries images:
    pass `content=[{"type": "text", "text": ...}, {"type": "image_url", "image_url": {"url": ...}}]`
    (or `Message.user(text, images=[...])`). Such a message keeps the parts in `parts`
    and their text, joined by newlines, in `content`, so every text-only consumer reads
    `content` as before; a text-only message has `parts=None` and dumps exactly as before.
    """

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    """The text of the message (of its text parts, for multimodal content)."""
    parts: list[ContentPart] | None = None
    """OpenAI-style content parts, set only when the content holds an image."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Calls requested by an assistant message."""
    tool_call_id: str | None = None
    """For a tool message: the id of the call it answers."""
    name: str | None = None
    """For a tool message: the tool's name."""

    @model_validator(mode="before")
    @classmethod
    def _split_parts(cls, data: Any) -> Any:
        # OpenAI-style list content: the parts are kept when they hold an image, the text always.
        if isinstance(data, dict) and isinstance(data.get("content"), list):
            raw = data["content"]
            parts = [p if isinstance(p, BaseModel) else _part(p) for p in raw]
            texts = [p.text for p in parts if isinstance(p, TextPart)]
            data = {**data, "content": "\n".join(texts) if texts or not parts else None}
            if any(isinstance(p, ImagePart) for p in parts):
                data["parts"] = parts
        elif isinstance(data, dict) and data.get("parts") and data.get("content") is None:
            parts = [p if isinstance(p, BaseModel) else _part(p) for p in data["parts"]]
            texts = [p.text for p in parts if isinstance(p, TextPart)]
            data = {**data, "parts": parts, "content": "\n".join(texts) if texts else None}
        return data

    @model_serializer(mode="wrap")
    def _drop_empty_parts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A text-only message serialises exactly as it did before multimodal content existed.
        out = handler(self)
        if out.get("parts", ...) is None:
            del out["parts"]
        return out

    @property
    def images(self) -> list[ImagePart]:
        """The image parts of the content, in order (empty for a text-only message)."""
        return [p for p in self.parts or [] if isinstance(p, ImagePart)]

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str, images: list[Any] | None = None) -> Message:
        """A user message; `images` (PIL images, URLs or `ImagePart`s) come after the text."""
        if not images:
            return cls(role="user", content=content)
        parts: list[TextPart | ImagePart] = [TextPart(text=content)]
        for image in images:
            if isinstance(image, ImagePart):
                parts.append(image)
            elif isinstance(image, str):
                parts.append(ImagePart(image_url=ImageURL(url=image)))
            else:
                parts.append(ImagePart.from_image(image))
        return cls(role="user", content=content, parts=parts)

    @classmethod
    def assistant(cls, content: str | None = None, tool_calls: list[ToolCall] | None = None) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls or [])

    @classmethod
    def tool(cls, content: str, tool_call_id: str, name: str | None = None) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id, name=name)

    def to_openai(self) -> dict[str, Any]:
        """This message as an OpenAI chat-completions message dict."""
        content: Any = self.content
        if self.parts is not None:
            content = [p.model_dump(exclude_none=True) for p in self.parts]
        out: dict[str, Any] = {"role": self.role, "content": content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None and self.role == "tool":
            out["name"] = self.name
        return out

    @classmethod
    def from_openai(cls, data: dict[str, Any]) -> Message:
        """Parse an OpenAI chat-completions message dict (also the legacy `function_call` form)."""
        calls = [
            ToolCall(
                id=c.get("id") or new_call_id(),
                name=c["function"]["name"],
                arguments=c["function"].get("arguments") or "{}",
            )
            for c in data.get("tool_calls") or []
        ]
        if data.get("function_call"):
            fc = data["function_call"]
            calls.append(ToolCall(name=fc["name"], arguments=fc.get("arguments") or "{}"))
        role = data["role"]
        if role == "function":
            role = "tool"
        return cls(
            role=role,
            content=data.get("content"),
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name") if role == "tool" else None,
        )


def _part(data: Any) -> TextPart | ImagePart:
    if isinstance(data, dict) and data.get("type") == "image_url":
        image = data.get("image_url")
        # OpenAI also accepts the URL as a bare string.
        return ImagePart(image_url=ImageURL(url=image) if isinstance(image, str) else image)
    if isinstance(data, dict) and data.get("type") == "text":
        return TextPart.model_validate(data)
    raise ValueError(
        f"content part {data!r} is neither {{'type': 'text', 'text': ...}} nor "
        "{'type': 'image_url', 'image_url': {'url': ...}}"
    )


class GenerationConfig(BaseModel):
    """Decoding settings understood by every backend (each maps them to its own API)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0.0, le=5.0)
    """Sampling temperature; 0 means greedy."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    top_k: int = Field(0, ge=0)
    """Keep only the k most likely tokens (0 = off)."""
    repetition_penalty: float = Field(1.0, gt=0.0)
    """Multiplicative penalty on already generated tokens (1 = off)."""
    max_new_tokens: int = Field(256, ge=1)
    """Upper bound on generated tokens."""
    do_sample: bool | None = None
    """Force sampling on/off; None derives it from temperature > 0."""
    seed: int | None = None
    """Seed for reproducible sampling where the backend supports it."""
    stop: list[str] = Field(default_factory=list)
    """Strings that end generation (not included in the output)."""
    no_repeat_ngram_size: int = Field(0, ge=0)
    """Never generate an n-gram of this size twice (0 = off). Blunt: it also blocks
    legitimate repeats such as JSON keys, so it is off by default."""
    stop_on_loop: bool = True
    """End a reply caught in a loop (its last 32+ tokens repeat one unit of at most 64
    tokens, four times for units under 8 tokens, three for longer ones) instead of running
    to `max_new_tokens`; a JSON-constrained
    reply closes its JSON instead. Small models fall into such loops; set False to keep
    generating. In-process backends (`hf:`) honour it."""

    @property
    def sampling(self) -> bool:
        """Whether this config samples (as opposed to greedy decoding)."""
        return self.do_sample if self.do_sample is not None else self.temperature > 0


class Usage(BaseModel):
    """Token counts of one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatResponse(BaseModel):
    """What a `ChatModel.chat` call returns."""

    message: Message
    """The assistant message (text and/or tool calls)."""
    finish_reason: Literal["stop", "length", "tool_calls", "error"] = "stop"
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    """Name of the model that produced it."""
    details: dict[str, Any] = Field(default_factory=dict)
    """How the reply was made, where a model node decides something itself: `hag:` puts the
    decoding configuration it chose under `"hag"`, `r3:` the extracted answer under `"r3"`."""
