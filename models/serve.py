"""`phalanx serve`: an OpenAI-compatible chat-completions server over any `ChatModel`.

Endpoints: `POST /v1/chat/completions` (tools, `response_format` json_object or json_schema, `stream: true`
server-sent events), `GET /v1/models`, `GET /health`. Requests from many clients reach the
backend concurrently, so an `hf:` model micro-batches them. The server binds to
loopback unless told otherwise; it has no authentication.

Beyond OpenAI's fields it accepts `top_k` and `repetition_penalty` (as vLLM does).
A request that omits `temperature` is decoded greedily (phalanx's default).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phalanx.models.base import ChatModel, load_model
from phalanx.models.errors import ModelError, ModelRequestError, ModelUnavailable
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat-completions request that phalanx serves."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    n: int = 1

    def generation_config(self) -> GenerationConfig:
        """The request's decoding settings as a `GenerationConfig` (raises ValidationError)."""
        fields: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repetition_penalty": self.repetition_penalty,
            "max_new_tokens": self.max_completion_tokens or self.max_tokens,
            "seed": self.seed,
            "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
        }
        return GenerationConfig(**{k: v for k, v in fields.items() if v is not None})

    def chat_messages(self) -> list[Message]:
        """The conversation as phalanx messages (text content parts are joined)."""
        out = []
        for raw in self.messages:
            data = dict(raw)
            if isinstance(data.get("content"), list):
                data["content"] = "".join(p.get("text", "") for p in data["content"] if isinstance(p, dict))
            if data.get("role") == "developer":
                data["role"] = "system"
            out.append(Message.from_openai(data))
        return out


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _status_of(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, ModelRequestError):
        return 400, "invalid_request_error"
    if isinstance(exc, ModelUnavailable):
        return 503, "service_unavailable"
    return 500, "server_error"


def build_app(model: ChatModel, *, served_name: str | None = None, close_model: bool = False) -> Any:
    """A FastAPI app serving `model` with the OpenAI chat-completions API.

    Args:
        model: any `ChatModel` backend.
        served_name: the name clients pass as `model` (default: `model.name`).
        close_model: call `model.aclose()` when the app shuts down.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    name = served_name or model.name
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_model:
            await model.aclose()

    app = FastAPI(title="phalanx serve", lifespan=lifespan)

    @app.exception_handler(_HTTPError)
    async def _http_error(_request: Request, exc: _HTTPError) -> JSONResponse:
        return JSONResponse(_error_body(exc.message, exc.kind), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            _error_body(f"invalid request: {exc.errors()}", "invalid_request_error"), status_code=400
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model": name}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": created, "owned_by": "phalanx"}],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatCompletionRequest) -> Any:
        if req.model and req.model != name:
            raise _HTTPError(
                404, f"model {req.model!r} is not served here; this server serves {name!r}", "not_found"
            )
        if req.n != 1:
            raise _HTTPError(400, "only n=1 is supported")
        try:
            config = req.generation_config()
            messages = req.chat_messages()
        except (ValidationError, KeyError, TypeError) as exc:
            raise _HTTPError(400, f"invalid request: {exc}") from exc
        tools = None if req.tool_choice == "none" else req.tools
        try:
            json_mode = response_format_mode(req.response_format)
        except ValueError as exc:
            raise _HTTPError(400, f"invalid response_format: {exc}") from exc
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        if req.stream:
            include_usage = bool((req.stream_options or {}).get("include_usage"))
            events = _stream_events(model, name, cid, messages, tools, config, json_mode, include_usage)
            return StreamingResponse(events, media_type="text/event-stream")
        try:
            resp = await model.chat(messages, tools=tools, config=config, json_mode=json_mode)
        except ModelError as exc:
            raise _HTTPError(*_status_pair(exc)) from exc
        return _completion(resp, name, cid)

    return app


def response_format_mode(fmt: dict[str, Any] | None) -> JsonMode:
    """`json_mode` for an OpenAI `response_format`: False, True (json_object) or the schema.

    Raises:
        ValueError: an unknown type, or a json_schema without a schema object.
    """
    kind = (fmt or {}).get("type", "text")
    if kind == "text":
        return False
    if kind == "json_object":
        return True
    if kind == "json_schema":
        spec = (fmt or {}).get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ValueError('json_schema needs {"json_schema": {"name": ..., "schema": {...}}}')
        return schema
    raise ValueError(f"unknown type {kind!r}; use text, json_object or json_schema")


def _status_pair(exc: BaseException) -> tuple[int, str, str]:
    status, kind = _status_of(exc)
    return status, f"{type(exc).__name__}: {exc}", kind


def _completion(resp: ChatResponse, name: str, cid: str) -> dict[str, Any]:
    usage = resp.usage
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [{"index": 0, "message": resp.message.to_openai(), "finish_reason": resp.finish_reason}],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }


async def _stream_events(
    model: ChatModel,
    name: str,
    cid: str,
    messages: list[Message],
    tools: list[dict[str, Any]] | None,
    config: GenerationConfig,
    json_mode: JsonMode,
    include_usage: bool,
) -> AsyncIterator[str]:
    created = int(time.time())

    def event(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        chunk: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
        }
        chunk["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        chunk.update(extra)
        return f"data: {json.dumps(chunk)}\n\n"

    pieces: asyncio.Queue[str] = asyncio.Queue()
    # A model that writes tool calls as text would stream that markup as content; when
    # tools are offered, send its parsed answer at the end instead.
    live = not (tools and model.supports_tools)
    task = asyncio.create_task(
        model.chat(
            messages,
            tools=tools,
            config=config,
            json_mode=json_mode,
            on_token=pieces.put_nowait if live else None,
        )
    )
    streamed = False
    try:
        yield event({"role": "assistant", "content": ""})
        while not task.done() or not pieces.empty():
            getter = asyncio.ensure_future(pieces.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                streamed = True
                yield event({"content": getter.result()})
            else:
                getter.cancel()
        try:
            resp = task.result()
        except ModelError as exc:
            _status, message, kind = _status_pair(exc)
            yield f"data: {json.dumps(_error_body(message, kind))}\n\n"
            yield "data: [DONE]\n\n"
            return
        if resp.message.content and not streamed:  # a backend that does not stream tokens
            yield event({"content": resp.message.content})
        if resp.message.tool_calls:
            calls = [
                {
                    "index": i,
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for i, c in enumerate(resp.message.tool_calls)
            ]
            yield event({"tool_calls": calls})
        yield event({}, resp.finish_reason)
        if include_usage:
            u = resp.usage
            usage = {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.prompt_tokens + u.completion_tokens,
            }
            yield event(None, usage=usage)
        yield "data: [DONE]\n\n"
    finally:
        if not task.done():  # the client went away: stop waiting for the model
            task.cancel()


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uvicorn_server(app: Any, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    return uvicorn.Server(config)


def serve_model(
    model: str | ChatModel,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    served_name: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve `model` (a spec or a `ChatModel`) until interrupted (blocking)."""
    owned = isinstance(model, str)
    chat_model = load_model(model)
    app = build_app(chat_model, served_name=served_name, close_model=owned)
    _uvicorn_server(app, host, port, log_level).run()


serve = serve_model
"""The earlier name of `serve_model`."""


class BackgroundServer:
    """Run `phalanx serve` in a background thread (examples, tests, notebooks).

    Use as a context manager; `base_url` is the `/v1` root for `openai:` specs and the
    official `openai` client. Port 0 picks a free port.

    Example:
        with BackgroundServer(model) as server:
            remote = load_model(f"openai:{server.base_url}#{server.served_name}")
    """

    def __init__(
        self,
        model: str | ChatModel,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        served_name: str | None = None,
        log_level: str = "warning",
    ) -> None:
        owned = isinstance(model, str)
        self.model = load_model(model)
        self.served_name = served_name or self.model.name
        self.host = host
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        app = build_app(self.model, served_name=self.served_name, close_model=owned)
        self._server = _uvicorn_server(app, host, self.port, log_level)
        self._thread = threading.Thread(target=self._run, name="phalanx-serve", daemon=True)
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/v1`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc

    def start(self, timeout_s: float = 30.0) -> BackgroundServer:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise ModelUnavailable(f"phalanx serve failed to start on {self.base_url}: {self._error}")
            if time.monotonic() > deadline:
                raise ModelUnavailable(f"phalanx serve did not start within {timeout_s} s on {self.base_url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
