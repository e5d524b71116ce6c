"""Leader/member JSON protocol: parsing, validation and bounded re-asks."""

from __future__ import annotations

import json

import pytest

from phalanx.agents.longagent.protocol import (
    FinalLeaderReply,
    LeaderReply,
    MemberReply,
    ask_json,
    parse_reply,
    render,
)
from phalanx.models import Message
from phalanx.models.scripted import ScriptedModel


@pytest.mark.parametrize(
    "text, kind, content",
    [
        ('{"type": "instruction", "content": "find the code"}', "instruction", "find the code"),
        ('Sure!\n```json\n{"type": "answer", "content": 42}\n```', "answer", "42"),
        ('noise {"x": "}"} then {"type": "Final Answer", "content": ["a", "b"]}', "answer", '["a", "b"]'),
    ],
)
def test_parse_leader_reply(text, kind, content):
    reply = parse_reply(text, LeaderReply)
    assert (reply.type, reply.content) == (kind, content)


@pytest.mark.parametrize(
    "text", ["", "no json here", '{"type": "response", "content": "x"}', '{"type": "answer"}']
)
def test_invalid_leader_reply_names_the_expected_shape(text):
    with pytest.raises(ValueError, match=r'"type": "instruction" \| "answer"'):
        parse_reply(text, LeaderReply)


def test_final_reply_must_be_an_answer():
    with pytest.raises(ValueError, match='"type": "answer"'):
        parse_reply('{"type": "instruction", "content": "more"}', FinalLeaderReply)


async def test_reask_recovers_and_is_bounded():
    replies = iter(["garbage", "still {not json", json.dumps({"type": "response", "content": "ok"})])
    model = ScriptedModel(lambda m, t: next(replies))
    ex = await ask_json(model, [Message.user("hi")], MemberReply, max_reasks=2)
    assert ex.ok and ex.reply == {"type": "response", "content": "ok"} and len(ex.raw) == 3
    # The re-ask shows the model its bad reply and what was wrong.
    assert model.calls[1][-2].content == "garbage" and "not valid" in model.calls[1][-1].content

    always_bad = ScriptedModel(lambda m, t: "nope")
    ex = await ask_json(always_bad, [Message.user("hi")], MemberReply, max_reasks=1)
    assert not ex.ok and ex.reply is None and len(always_bad.calls) == 2
    assert "expected" in ex.error


def test_templates_are_versioned_package_data():
    text = render("leader_system", num_members=7)
    assert "7 members" in text and '"type": "instruction"' in text
    with pytest.raises(ValueError, match="unknown LongAgent prompt version"):
        render("leader_system", version="v999", num_members=1)


def test_escaped_quotes_and_braces_inside_strings():
    text = 'Reply: {"type": "response", "content": "he said \\"}{\\" twice"} trailing'
    assert parse_reply(text, MemberReply).content == 'he said "}{" twice'


async def test_ask_json_asks_for_the_schema_and_rejects_placeholder_echoes() -> None:
    asked: list[object] = []
    replies = iter(
        [
            '{"type": "answer", "content": "<the final answer>"}',
            '{"type": "answer", "content": "..."}',
            '{"type": "answer", "content": "73519"}',
        ]
    )

    class Recorder(ScriptedModel):
        async def chat(self, messages, *, json_mode=False, **kwargs):  # type: ignore[override]
            asked.append(json_mode)
            return await super().chat(messages, json_mode=json_mode, **kwargs)

    ex = await ask_json(Recorder(lambda m, t: next(replies)), [Message.user("q")], LeaderReply, max_reasks=2)
    assert ex.ok and ex.reply == {"type": "answer", "content": "73519"} and len(ex.raw) == 3
    schema = asked[0]
    assert isinstance(schema, dict) and schema["properties"]["type"]["enum"] == ["instruction", "answer"]
    assert schema["required"] == ["type", "content"] and schema["additionalProperties"] is False
    with pytest.raises(ValueError, match="placeholder"):
        parse_reply('{"type": "answer", "content": "<the final answer>"}', FinalLeaderReply)


async def test_ask_text_wraps_prose_and_keeps_json_and_reasks_placeholders() -> None:
    from phalanx.agents.longagent.protocol import ask_text, fixed_type

    assert fixed_type(MemberReply) == "response" and fixed_type(FinalLeaderReply) == "answer"
    assert fixed_type(LeaderReply) is None
    asked: list[object] = []
    replies = iter(["...", "The code of the Farrow vault is 90320.", '{"type": "response", "content": "x"}'])

    class Recorder(ScriptedModel):
        async def chat(self, messages, *, json_mode=False, **kwargs):  # type: ignore[override]
            asked.append(json_mode)
            return await super().chat(messages, json_mode=json_mode, **kwargs)

    model = Recorder(lambda m, t: next(replies))
    ex = await ask_text(model, [Message.user("q")], MemberReply)
    assert ex.reply == {"type": "response", "content": "The code of the Farrow vault is 90320."}
    assert len(ex.raw) == 2 and asked == [False, False]  # plain text asked, the echo re-asked
    ex = await ask_text(model, [Message.user("q")], MemberReply)
    assert ex.reply == {"type": "response", "content": "x"}
    with pytest.raises(ValueError, match="no fixed type"):
        await ask_text(model, [Message.user("q")], LeaderReply)


async def test_ask_text_reasks_a_last_answer_that_is_another_instruction() -> None:
    """Seen on SmolLM2: asked for its last answer in text, the leader copied its earlier JSON turns."""
    from phalanx.agents.longagent.protocol import ask_text

    echo = '{"type":"instruction","content":"What is the secret code of the Harlow vault?"}'
    replies = iter([echo, "The code is 28234."])
    model = ScriptedModel(lambda m, t: next(replies))
    ex = await ask_text(model, [Message.user("q")], FinalLeaderReply)
    assert ex.reply == {"type": "answer", "content": "The code is 28234."}
    assert ex.raw == [echo, "The code is 28234."]
    # Cut at the token limit mid-instruction: still an echo, still re-asked.
    cut = '{"type": "instruction", "content": "What is the secret code of the'
    replies = iter([cut, "28234"])
    ex = await ask_text(ScriptedModel(lambda m, t: next(replies)), [Message.user("q")], FinalLeaderReply)
    assert ex.reply == {"type": "answer", "content": "28234"} and ex.raw == [cut, "28234"]
    # Prose that merely starts with a brace is still an answer.
    ex = await ask_text(
        ScriptedModel(lambda m, t: "{braces} are fine: 28234"), [Message.user("q")], FinalLeaderReply
    )
    assert ex.reply == {"type": "answer", "content": "{braces} are fine: 28234"}
    # Echoes every time: the bounded re-asks end with no reply and the reason, not the echo as the answer.
    ex = await ask_text(ScriptedModel(lambda m, t: echo), [Message.user("q")], FinalLeaderReply, max_reasks=1)
    assert ex.reply is None and len(ex.raw) == 2 and "'instruction' message" in (ex.error or "")
