"""Chat-template prompts and text-to-response parsing shared by in-process backends (`hf:`, `vllm:`).

Both backends see raw model text: they render the conversation with the tokenizer's
chat template, and turn the generated text back into a `ChatResponse` (tool calls
parsed best-effort when the template takes `tools`, JSON extracted in JSON mode).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from phalanx.models.errors import ModelRequestError, ModelSpecError
from phalanx.models.toolparse import first_json_object, parse_tool_calls
from phalanx.models.types import ChatResponse, Message, Usage

JSON_MODE_INSTRUCTION = "Respond with a single JSON object and nothing else."
"""Added to the system prompt in JSON mode (no constrained decoding in-process)."""


def template_supports_tools(tokenizer: Any, name: str = "model") -> bool:
    """True when the tokenizer's chat template renders a `tools` variable.

    Raises:
        ModelSpecError: the tokenizer has no chat template.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ModelSpecError(
            f"{name}: the tokenizer has no chat template; set `tokenizer.chat_template` "
            "(a Jinja string) and save it with the model"
        )
    text = template if isinstance(template, str) else json.dumps(template)
    return "tools" in text


def render_chat(
    tokenizer: Any,
    messages: Sequence[Message],
    *,
    tools: list[dict[str, Any]] | None = None,
    json_mode: bool = False,
    supports_tools: bool = False,
) -> str:
    """The chat-template prompt text for `messages`, ending at the assistant's turn."""
    dicts = []
    for m in messages:
        if m.images:
            raise ModelRequestError(
                "this model reads text only and the conversation holds an image; use a vision-language "
                "model (vlm:PATH, somelvlm:PATH) or drop the image parts"
            )
        d = m.to_openai()
        if m.tool_calls and not supports_tools:
            # The template cannot show structured calls; keep them visible as text.
            calls = [{"name": c.name, "arguments": _loads_or_text(c.arguments)} for c in m.tool_calls]
            d = {"role": m.role, "content": ((m.content or "") + "\n" + json.dumps(calls)).strip()}
        dicts.append(d)
    if json_mode:
        if dicts and dicts[0]["role"] == "system":
            content = f"{dicts[0]['content'] or ''}\n{JSON_MODE_INSTRUCTION}".strip()
            dicts[0] = {**dicts[0], "content": content}
        else:
            dicts.insert(0, {"role": "system", "content": JSON_MODE_INSTRUCTION})
    extra = {"tools": tools} if tools and supports_tools else {}
    return tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True, **extra)


def _loads_or_text(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments


def build_response(
    text: str,
    *,
    finish_reason: Literal["stop", "length"],
    prompt_tokens: int,
    completion_tokens: int,
    tools: list[dict[str, Any]] | None,
    json_mode: bool,
    supports_tools: bool,
    model: str,
) -> ChatResponse:
    """Turn generated text into a `ChatResponse` (tool calls and JSON parsed best-effort)."""
    content: str | None = text
    calls: list = []
    if tools and supports_tools:
        names = {t.get("function", t).get("name") for t in tools}
        content, calls = parse_tool_calls(text, names)
    if json_mode and not calls and content is not None:
        content = first_json_object(content) or content
    return ChatResponse(
        message=Message.assistant(content or (None if calls else ""), tool_calls=calls),
        finish_reason="tool_calls" if calls else finish_reason,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        model=model,
    )
