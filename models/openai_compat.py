"""`openai:BASE_URL#MODEL`: any OpenAI-compatible chat-completions server.

Works with `phalanx serve`, vLLM's server, llama.cpp's server and OpenAI itself.
Tools go over the wire in OpenAI's function format, JSON mode as
`response_format: {"type": "json_object"}`, and tokens stream over server-sent
events when an `on_token` callback is given. Transient failures (connection
errors, timeouts, HTTP 429 and 5xx) are retried with bounded exponential backoff;
when the server stays unreachable the error names the URL and how to start one.

The API key comes from `PHALANX_OPENAI_API_KEY` or `OPENAI_API_KEY` when set.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import Sequence
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.errors import ModelRequestError, ModelSpecError, ModelUnavailable
from phalanx.models.grammar import schema_for
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message, ToolCall, Usage

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls"}
_START_HINT = (
    "is the server running? start one with `phalanx serve MODEL_SPEC --port N`; BASE_URL usually ends in /v1"
)


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, 429, 5xx)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def request_body(
    model: str,
    messages: Sequence[Message],
    tools: list[dict[str, Any]] | None,
    config: GenerationConfig,
    json_mode: JsonMode,
    stream: bool,
) -> dict[str, Any]:
    """The chat-completions JSON body for one call (only non-default knobs are sent)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [m.to_openai() for m in messages],
        "max_tokens": config.max_new_tokens,
        "temperature": (config.temperature or 1.0) if config.sampling else 0.0,
    }
    if config.sampling and config.top_p != 1.0:
        body["top_p"] = config.top_p
    # top_k and repetition_penalty are extensions (vLLM, phalanx serve); OpenAI itself
    # rejects unknown fields, so they are only sent when the caller asked for them.
    if config.sampling and config.top_k:
        body["top_k"] = config.top_k
    if config.repetition_penalty != 1.0:
        body["repetition_penalty"] = config.repetition_penalty
    if config.seed is not None:
        body["seed"] = config.seed
    if config.stop:
        body["stop"] = list(config.stop)
    if tools:
        body["tools"] = tools
        body["tool_choice"] = "auto"
    schema = schema_for(json_mode)
    if isinstance(json_mode, dict) and schema is not None:
        # OpenAI's structured outputs; vLLM and `phalanx serve` constrain decoding to it.
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": True},
        }
    elif json_mode:
        body["response_format"] = {"type": "json_object"}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


class OpenAICompatModel:
    """A chat model served over HTTP with the OpenAI chat-completions API.

    Args:
        base_url: the API root, e.g. `http://127.0.0.1:8000/v1`.
        model: the model name the server expects.
        api_key: bearer token (default: `PHALANX_OPENAI_API_KEY` / `OPENAI_API_KEY`).
        timeout_s: per-request timeout.
        max_attempts: tries per call for transient failures (1 disables retries).
        backoff_s: first retry delay; doubles up to 10 s, with jitter.
    """

    supports_tools = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_attempts: int = 4,
        backoff_s: float = 0.25,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}#{model}"
        self.api_key = api_key or os.environ.get("PHALANX_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        # httpx clients hold connections bound to the loop that opened them.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            client = httpx.AsyncClient(timeout=self.timeout_s, headers=headers)
            self._clients[loop] = client
        return client

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Send one chat-completions request (streamed when `on_token` is given).

        A JSON schema as `json_mode` is sent as `response_format: json_schema`.

        Raises:
            ModelUnavailable: the server cannot be reached or keeps failing (429/5xx).
            ModelRequestError: the server rejected the request (other 4xx).
        """
        body = request_body(
            self.model, messages, tools, config or GenerationConfig(), json_mode, on_token is not None
        )
        streamed = False

        def mark(piece: str) -> None:
            nonlocal streamed
            streamed = True
            if on_token is not None:
                on_token(piece)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(initial=self.backoff_s, max=10.0, jitter=self.backoff_s),
            # Once tokens reached the caller a retry would repeat them: fail instead.
            retry=retry_if_exception(lambda exc: isinstance(exc, _Transient) and not streamed),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if on_token is None:
                        return await self._once(body)
                    return await self._stream(body, mark)
        except _Transient as exc:
            raise ModelUnavailable(
                f"{self.url}: {exc} (after {self.max_attempts} attempt(s)); {_START_HINT}"
            ) from (exc.cause or exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post_error(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        text = (await response.aread()).decode(errors="replace")[:500]
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}: {text}")
        hint = ""
        if response.status_code == 404:
            hint = f" (check BASE_URL and the model name; GET {self.base_url}/models lists the served models)"
        raise ModelRequestError(f"{self.url} rejected the request: HTTP {response.status_code}: {text}{hint}")

    async def _once(self, body: dict[str, Any]) -> ChatResponse:
        try:
            response = await self._client().post(self.url, json=body)
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}", exc) from exc
        await self._post_error(response)
        try:
            data = response.json()
            choice = data["choices"][0]
            message = Message.from_openai({**choice["message"], "role": "assistant"})
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelRequestError(
                f"{self.url} answered with an unexpected body: {response.text[:300]}"
            ) from exc
        return ChatResponse(
            message=message,
            finish_reason=_finish(choice.get("finish_reason"), message),
            usage=_usage(data.get("usage")),
            model=data.get("model") or self.model,
        )

    async def _stream(self, body: dict[str, Any], on_token: TokenCallback) -> ChatResponse:
        content: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish, usage, model = None, Usage(), self.model
        try:
            async with self._client().stream("POST", self.url, json=body) as response:
                await self._post_error(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    if "error" in chunk:
                        raise ModelRequestError(f"{self.url} failed mid-stream: {chunk['error']}")
                    model = chunk.get("model") or model
                    if chunk.get("usage"):
                        usage = _usage(chunk["usage"])
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            content.append(delta["content"])
                            on_token(delta["content"])
                        for tc in delta.get("tool_calls") or []:
                            slot = calls.setdefault(
                                tc.get("index", 0), {"id": "", "name": "", "arguments": ""}
                            )
                            slot["id"] = tc.get("id") or slot["id"]
                            fn = tc.get("function") or {}
                            slot["name"] += fn.get("name") or ""
                            slot["arguments"] += fn.get("arguments") or ""
                        finish = choice.get("finish_reason") or finish
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}", exc) from exc
        except json.JSONDecodeError as exc:
            raise ModelRequestError(f"{self.url} sent a malformed stream event: {exc}") from exc
        tool_calls = [
            ToolCall(name=c["name"], arguments=c["arguments"] or "{}", **({"id": c["id"]} if c["id"] else {}))
            for _i, c in sorted(calls.items())
        ]
        message = Message.assistant("".join(content) if content or not tool_calls else None, tool_calls)
        return ChatResponse(message=message, finish_reason=_finish(finish, message), usage=usage, model=model)

    async def aclose(self) -> None:
        """Close the HTTP client of the current event loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


def _finish(reason: str | None, message: Message) -> Any:
    if message.tool_calls:
        return "tool_calls"
    return _FINISH.get(reason or "stop", "stop")


def _usage(data: dict[str, Any] | None) -> Usage:
    data = data or {}
    return Usage(
        prompt_tokens=data.get("prompt_tokens") or 0, completion_tokens=data.get("completion_tokens") or 0
    )


def parse_openai_spec(target: str) -> tuple[str, str]:
    """Split `BASE_URL#MODEL` (the part of an `openai:` spec after the colon)."""
    base, sep, model = target.partition("#")
    if not sep or not model:
        raise ModelSpecError(
            f"openai spec {target!r} lacks the model name; write openai:BASE_URL#MODEL, "
            "e.g. openai:http://127.0.0.1:8000/v1#tiny"
        )
    if not base.startswith(("http://", "https://")):
        raise ModelSpecError(f"openai spec base URL {base!r} must start with http:// or https://")
    return base, model


@register_backend("openai")
def _load(target: str) -> OpenAICompatModel:
    base, model = parse_openai_spec(target)
    return OpenAICompatModel(base, model)
