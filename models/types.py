"""Value types shared by every chat-model backend (messages, tool calls, generation config)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


class Message(BaseModel):
    """One chat message (system, user, assistant or tool result)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Calls requested by an assistant message."""
    tool_call_id: str | None = None
    """For a tool message: the id of the call it answers."""
    name: str | None = None
    """For a tool message: the tool's name."""

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str | None = None, tool_calls: list[ToolCall] | None = None) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls or [])

    @classmethod
    def tool(cls, content: str, tool_call_id: str, name: str | None = None) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id, name=name)

    def to_openai(self) -> dict[str, Any]:
        """This message as an OpenAI chat-completions message dict."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
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
