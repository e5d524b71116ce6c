"""The scripted backend: function-driven, file-driven and named models."""

from __future__ import annotations

import json

import pytest

from phalanx.models import Message, ModelSpecError, ToolCall, load_model
from phalanx.models.scripted import ScriptedModel


async def test_function_model_returns_tool_call_and_records_calls() -> None:
    model = ScriptedModel(lambda msgs, tools: ToolCall(name="add", arguments='{"a": 1}'))
    resp = await model.chat([Message.user("add one")])
    assert resp.finish_reason == "tool_calls"
    assert resp.message.tool_calls[0].name == "add"
    assert model.calls[0][0].content == "add one"


async def test_file_model_transcript_then_rules(tmp_path) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(
        json.dumps(
            {
                "transcript": ["first"],
                "rules": [
                    {"last_role": "tool", "reply": "tool said {tool}"},
                    {
                        "contains": "weather",
                        "tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    },
                ],
                "default": "fallback",
            }
        )
    )
    model = load_model(f"scripted:{path}")
    assert (await model.chat([Message.user("hello")])).message.content == "first"
    call = (await model.chat([Message.user("What is the WEATHER?")])).message.tool_calls[0]
    assert json.loads(call.arguments) == {"city": "Paris"}
    msgs = [Message.user("x"), Message.tool("sunny", tool_call_id="c1")]
    assert (await model.chat(msgs)).message.content == "tool said sunny"
    assert (await model.chat([Message.user("other")])).message.content == "fallback"


def test_bad_specs_give_clear_errors(tmp_path) -> None:
    with pytest.raises(ModelSpecError, match="SCHEME:TARGET"):
        load_model("no-scheme")
    with pytest.raises(ModelSpecError, match="unknown model scheme"):
        load_model("nope:thing")
    with pytest.raises(ModelSpecError, match="neither a file nor a registered name"):
        load_model(f"scripted:{tmp_path / 'missing.yaml'}")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: 5")
    with pytest.raises(ModelSpecError, match="invalid scripted-model file"):
        load_model(f"scripted:{bad}")


def test_openai_message_round_trip() -> None:
    msg = Message.assistant(tool_calls=[ToolCall(id="c1", name="f", arguments="{}")])
    assert Message.from_openai(msg.to_openai()) == msg
    legacy = Message.from_openai(
        {"role": "assistant", "content": None, "function_call": {"name": "g", "arguments": "{}"}}
    )
    assert legacy.tool_calls[0].name == "g"


def test_named_models_of_higher_layers_load_without_importing_them_first() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from phalanx.models import load_model\n"
        "assert 'phalanx.agents.audit' not in sys.modules\n"
        "m = load_model('scripted:comply')\n"
        "print(m.name, 'phalanx.agents.audit.scripted_agents' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "True"
