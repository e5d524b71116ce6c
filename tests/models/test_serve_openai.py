"""`phalanx serve` on 127.0.0.1 with the `openai:` backend and the official `openai` client as clients."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from phalanx.models import (
    GenerationConfig,
    Message,
    ModelRequestError,
    ModelSpecError,
    ModelUnavailable,
    ToolCall,
    load_model,
)
from phalanx.models.openai_compat import OpenAICompatModel
from phalanx.models.scripted import ScriptedModel
from phalanx.models.serve import BackgroundServer, is_loopback

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class RecordingModel(ScriptedModel):
    """A scripted model that also records the settings each call arrived with."""

    def __init__(self, fn) -> None:
        super().__init__(fn, name="recorder")
        self.settings: list[dict] = []
        self.failures_left = 0

    async def chat(self, messages, *, tools=None, config=None, json_mode=False, on_token=None):
        self.settings.append({"tools": tools, "config": config, "json_mode": json_mode})
        if self.failures_left:
            self.failures_left -= 1
            raise ModelUnavailable("warming up")
        return await super().chat(
            messages, tools=tools, config=config, json_mode=json_mode, on_token=on_token
        )


def _reply(messages, tools):
    last = messages[-1]
    if last.role == "tool":
        return f"The weather is {last.content}."
    if tools and "weather" in (last.content or ""):
        return ToolCall(name="get_weather", arguments='{"city": "Paris"}')
    return f"echo: {last.content}"


@pytest.fixture(scope="module")
def recorder() -> RecordingModel:
    return RecordingModel(_reply)


@pytest.fixture(scope="module")
def scripted_server(recorder):
    with BackgroundServer(recorder, served_name="scripted") as server:
        yield server


@pytest.fixture(scope="module")
def hf_server(varied_model_dir):
    with BackgroundServer(f"hf:{varied_model_dir}", served_name="tiny") as server:
        yield server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_openai_backend_text_tools_and_json_mode(scripted_server, recorder) -> None:
    assert scripted_server.base_url.startswith("http://127.0.0.1:")
    remote = load_model(f"openai:{scripted_server.base_url}#scripted")
    resp = await remote.chat([Message.user("hello")], config=GenerationConfig(max_new_tokens=9, stop=["x"]))
    assert resp.message.content == "echo: hello" and resp.finish_reason == "stop"
    sent = recorder.settings[-1]
    assert sent["config"].max_new_tokens == 9 and sent["config"].stop == ["x"] and sent["json_mode"] is False

    call = await remote.chat([Message.user("weather please")], tools=[WEATHER_TOOL], json_mode=True)
    assert call.finish_reason == "tool_calls"
    assert call.message.tool_calls[0].name == "get_weather"
    assert json.loads(call.message.tool_calls[0].arguments) == {"city": "Paris"}
    assert recorder.settings[-1]["tools"] == [WEATHER_TOOL] and recorder.settings[-1]["json_mode"] is True

    history = [
        Message.user("weather please"),
        call.message,
        Message.tool("sunny", call.message.tool_calls[0].id),
    ]
    assert (await remote.chat(history, tools=[WEATHER_TOOL])).message.content == "The weather is sunny."
    await remote.aclose()


async def test_openai_backend_streams_tokens_and_tool_calls(scripted_server) -> None:
    remote = OpenAICompatModel(scripted_server.base_url, "scripted")
    pieces: list[str] = []
    resp = await remote.chat([Message.user("one two three")], on_token=pieces.append)
    assert "".join(pieces) == resp.message.content == "echo: one two three"
    assert len(pieces) >= 3
    streamed_call = await remote.chat([Message.user("weather")], tools=[WEATHER_TOOL], on_token=pieces.append)
    assert streamed_call.message.tool_calls[0].name == "get_weather"
    assert streamed_call.finish_reason == "tool_calls"
    await remote.aclose()


async def test_retries_transient_server_errors_then_gives_up(scripted_server, recorder) -> None:
    remote = OpenAICompatModel(scripted_server.base_url, "scripted", max_attempts=3, backoff_s=0.01)
    recorder.failures_left = 2
    before = len(recorder.settings)
    assert (await remote.chat([Message.user("hi")])).message.content == "echo: hi"
    assert len(recorder.settings) - before == 3
    recorder.failures_left = 10
    with pytest.raises(ModelUnavailable, match="503"):
        await remote.chat([Message.user("hi")])
    recorder.failures_left = 0
    with pytest.raises(ModelRequestError, match="not served here"):
        await OpenAICompatModel(scripted_server.base_url, "other-name").chat([Message.user("hi")])
    await remote.aclose()


async def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    remote = OpenAICompatModel(url, "m", max_attempts=2, backoff_s=0.01)
    with pytest.raises(ModelUnavailable, match="phalanx serve") as info:
        await remote.chat([Message.user("hi")])
    assert url in str(info.value) and "2 attempt" in str(info.value)
    with pytest.raises(ModelUnavailable, match=url):
        await remote.chat([Message.user("hi")], on_token=lambda _p: None)


def test_bad_openai_specs() -> None:
    with pytest.raises(ModelSpecError, match="#MODEL"):
        load_model("openai:http://127.0.0.1:8000/v1")
    with pytest.raises(ModelSpecError, match="http://"):
        load_model("openai:127.0.0.1:8000/v1#m")


def test_official_openai_client_against_hf_server(hf_server, varied_model_dir) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=hf_server.base_url, api_key="unused")
    assert [m.id for m in client.models.list().data] == ["tiny"]
    msgs = [{"role": "user", "content": "The quick brown fox"}]
    done = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=12, temperature=0)
    text = done.choices[0].message.content
    assert done.usage.completion_tokens == 12 and done.choices[0].finish_reason == "length"

    direct = load_model(f"hf:{varied_model_dir}")
    expected = asyncio.run(
        direct.chat([Message.user("The quick brown fox")], config=GenerationConfig(max_new_tokens=12))
    )
    assert text == expected.message.content  # the server adds nothing and loses nothing

    stream = client.chat.completions.create(
        model="tiny", messages=msgs, max_tokens=12, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1 and "".join(pieces) == text
    assert chunks[-1].usage.completion_tokens == 12
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=msgs, max_tokens=0)


async def test_server_batches_concurrent_requests(hf_server) -> None:
    remote = OpenAICompatModel(hf_server.base_url, "tiny")
    prompts = [f"request {i}" for i in range(6)]
    before = hf_server.model.batcher.stats.batches
    answers = await asyncio.gather(
        *(remote.chat([Message.user(p)], config=GenerationConfig(max_new_tokens=6)) for p in prompts)
    )
    assert all(a.usage.completion_tokens == 6 for a in answers)
    assert hf_server.model.batcher.stats.batches - before < len(prompts)
    await remote.aclose()


def test_serve_cli_subprocess_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    exe = Path(sys.executable).with_name("phalanx")
    proc = subprocess.Popen(
        [str(exe), "serve", "scripted:echo", "--port", str(port), "--name", "echo", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        remote = load_model(f"openai:http://127.0.0.1:{port}/v1#echo")
        assert asyncio.run(remote.chat([Message.user("ping")])).message.content == "ping"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}/v1" in out


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")


def test_official_openai_client_tools_json_mode_and_streamed_tool_calls(scripted_server, recorder) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=scripted_server.base_url, api_key="unused", max_retries=0)
    msgs = [{"role": "user", "content": "weather in Paris?"}]
    done = client.chat.completions.create(
        model="scripted", messages=msgs, tools=[WEATHER_TOOL], response_format={"type": "json_object"}
    )
    call = done.choices[0].message.tool_calls[0]
    assert done.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert recorder.settings[-1]["json_mode"] is True

    chunks = list(
        client.chat.completions.create(model="scripted", messages=msgs, tools=[WEATHER_TOOL], stream=True)
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "get_weather" and deltas[0].id
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"

    follow_up = msgs + [done.choices[0].message.model_dump(exclude_none=True)]
    follow_up.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    again = client.chat.completions.create(model="scripted", messages=follow_up, tools=[WEATHER_TOOL])
    assert again.choices[0].message.content == "The weather is sunny."


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


async def test_a_schema_travels_as_response_format_json_schema(scripted_server, recorder) -> None:
    remote = load_model(f"openai:{scripted_server.base_url}#scripted")
    await remote.chat([Message.user("who?")], json_mode=PERSON)
    assert recorder.settings[-1]["json_mode"] == PERSON  # the server handed the schema to the backend
    await remote.aclose()


def test_official_client_json_schema_against_the_hf_server_gives_schema_valid_json(hf_server) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=hf_server.base_url, api_key="unused", max_retries=0)
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    for question in ("Who is Alice?", "Describe Bob.", "Name someone."):
        done = client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": question}],
            max_tokens=40,
            temperature=0,
            response_format=fmt,
        )
        person = json.loads(done.choices[0].message.content)
        assert set(person) == {"name", "age"} and isinstance(person["age"], int)
    with pytest.raises(openai.BadRequestError, match="json_schema needs"):
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_schema"}
        )
    with pytest.raises(openai.BadRequestError, match="cannot compile"):
        bad = {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "string", "format": "nope"}},
        }
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "x"}], response_format=bad
        )
