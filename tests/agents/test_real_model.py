"""The agent protocols on the real model (SmolLM2-135M-Instruct, pulled by `.ci/setup`).

Unit tests elsewhere use tiny random models; these check that the protocols hold on the
real instruct model a user runs: every constrained reply parses without a re-ask, and the
runnable example of the real model as a tool agent finishes cleanly. Kept to a few model
calls (well under the suite's 90 s budget for real-model tests).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

from phalanx.agents.tool_agent.protocol import is_placeholder
from phalanx.models import GenerationConfig, Message, load_model

ROOT = Path(__file__).resolve().parents[2]


def _example():
    spec = importlib.util.spec_from_file_location(
        "real_model_tools", ROOT / "examples" / "real_model_tools.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.requires_docker
def test_real_model_tool_agent_example_finishes_without_re_asks(smollm2_dir) -> None:
    summary = _example_run()
    row = summary["rows"][0]
    # Constrained decoding: every reply is a protocol move, so no re-ask and no protocol failure.
    assert summary["re_asks"] == 0, row
    assert row["stop_reason"] in ("final_answer", "max_steps"), row
    assert row["answer"] is None or not is_placeholder(row["answer"]), row
    assert all(status != "unknown_tool" for _, status in row["calls"]), row


def _example_run() -> dict:
    return asyncio.run(_example().main("hf:smollm2-135m-instruct", "docker", 1))


async def test_real_model_mixed_batch_replies_parse_as_their_schemas(smollm2_dir) -> None:
    model = load_model("hf:smollm2-135m-instruct")
    numbers = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    names = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    asks = [
        ("How many legs does a spider have? Reply in JSON.", numbers),
        ("Name the capital of France and its country in JSON.", names),
        ("Write one sentence about the sea.", False),
        ("Give any number between 1 and 9 as JSON.", numbers),
    ]
    config = GenerationConfig(max_new_tokens=48)
    try:
        replies = await asyncio.gather(
            *(model.chat([Message.user(q)], config=config, json_mode=schema) for q, schema in asks)
        )
    finally:
        await model.aclose()
    for (question, schema), reply in zip(asks, replies, strict=True):
        text = reply.message.content or ""
        if schema is False:
            assert text.strip(), question
            continue
        value = json.loads(text)
        assert set(schema["required"]) <= set(value), (question, text)
        for key in schema["required"]:
            kind = schema["properties"][key]["type"]
            assert isinstance(value[key], int if kind == "integer" else str), (question, text)
