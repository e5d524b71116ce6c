"""One conformance suite for the `ChatModel` seam, run over every backend available offline."""

from __future__ import annotations

import pytest

from phalanx.models import ChatModel, ChatResponse, GenerationConfig, Message, load_model
from phalanx.models.serve import BackgroundServer


@pytest.fixture(scope="module", params=["scripted", "hf", "openai->serve(hf)"])
def backend(request, varied_model_dir):
    if request.param == "scripted":
        yield load_model("scripted:echo")
    elif request.param == "hf":
        yield load_model(f"hf:{varied_model_dir}")
    else:
        with BackgroundServer(f"hf:{varied_model_dir}", served_name="tiny") as server:
            yield load_model(f"openai:{server.base_url}#tiny")


async def test_chat_contract(backend) -> None:
    assert isinstance(backend, ChatModel)
    assert isinstance(backend.name, str) and isinstance(backend.supports_tools, bool)
    msgs = [Message.system("You answer."), Message.user("say something about the fox")]
    cfg = GenerationConfig(max_new_tokens=8)
    resp = await backend.chat(msgs, config=cfg)
    assert isinstance(resp, ChatResponse)
    assert resp.message.role == "assistant" and isinstance(resp.message.content, str)
    assert resp.finish_reason in ("stop", "length")

    pieces: list[str] = []
    streamed = await backend.chat(msgs, config=cfg, on_token=pieces.append)
    assert "".join(pieces) == streamed.message.content
    assert streamed.message.content == resp.message.content  # greedy/deterministic either way
    await backend.aclose()
