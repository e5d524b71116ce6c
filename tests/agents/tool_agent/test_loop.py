"""The tool-calling loop: JSON protocol repair, native calls, parallel calls, limits, turn guards, graph node."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from phalanx.agents.tool_agent import ToolAgent, TurnContext, parse_reply
from phalanx.models import Message, ModelOutputError, ModelUnavailable, ToolCall
from phalanx.models.scripted import ScriptedModel
from phalanx.tools import HookVerdict, tool


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: first factor.
        b: second factor.
    """
    return a * b


def text_model(replies: list[str]) -> ScriptedModel:
    """A model without native tools replying from a list (and recording what it was asked)."""
    it = iter(replies)
    model = ScriptedModel(lambda msgs, tools: next(it))
    model.supports_tools = False
    return model


async def test_malformed_json_twice_then_valid_call_completes() -> None:
    model = text_model(
        [
            'Sure! I will call {"multiply"}.',
            '{"tool_calls": [{"name": "multiply", "arguments": {"a": 6,',
            '```json\n{"tool_calls": [{"name": "multiply", "arguments": {"a": 6, "b": 7}}]}\n```',
            '{"final_answer": "42"}',
        ]
    )
    result = await ToolAgent(model, [multiply], max_repairs=2).run("What is 6*7?")
    assert result.stop_reason == "final_answer" and result.answer == "42"
    assert result.stats.repairs == 2 and result.stats.steps == 4 and result.stats.tool_calls == 1
    assert [c.status for c in result.tool_calls] == ["ok"] and result.tool_calls[0].content == "42"
    # each re-ask quotes the parse error; the protocol is described in the system prompt
    repairs = [
        m.content for m in result.messages if m.role == "user" and "could not be used" in (m.content or "")
    ]
    assert "invalid JSON" in repairs[0] and "invalid JSON" in repairs[1]
    system = result.messages[0].content or ""
    assert (
        '"final_answer"' in system and "- multiply(a: integer (first factor.), b: integer (second factor.)): Multiply two integers." in system
    )
    # the text model saw tool results as user turns
    assert any(m.role == "user" and m.content.startswith("Tool result [") for m in model.calls[-1])


async def test_repairs_are_bounded() -> None:
    result = await ToolAgent(text_model(['{"nope": 1}'] * 10), [multiply], max_repairs=2).run("q")
    assert result.stop_reason == "malformed_output" and result.answer is None
    assert "3 times (max_repairs=2)" in result.detail and 'neither "tool_calls" nor' in result.detail


async def test_native_parallel_calls_and_argument_errors_counted() -> None:
    def script(msgs: list[Message], tools: list[dict] | None) -> Message | str:
        assert tools and tools[0]["function"]["name"] == "multiply"
        if msgs[-1].role == "user":
            return Message.assistant(
                tool_calls=[
                    ToolCall(name="multiply", arguments='{"a": 2, "b": 3}'),
                    ToolCall(name="multiply", arguments='{"a": "two", "b": 3}'),
                    ToolCall(name="multiply", arguments='{"a": 4, "b": 5}'),
                ]
            )
        return "results: " + ", ".join(m.content or "" for m in msgs if m.role == "tool")

    result = await ToolAgent(ScriptedModel(script), [multiply]).run("q")
    assert result.stop_reason == "final_answer"
    assert result.answer.startswith("results: 6, Error: invalid arguments") and result.answer.endswith(", 20")
    assert [c.status for c in result.tool_calls] == ["ok", "invalid_args", "ok"]
    assert result.stats.argument_errors == 1 and result.stats.tool_errors == 1
    tool_msgs = [m for m in result.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_msgs] == [c.call_id for c in result.tool_calls]


async def test_max_steps_and_max_tool_errors() -> None:
    counter = iter(range(100))
    loop = ScriptedModel(
        lambda msgs, tools: ToolCall(name="multiply", arguments=f'{{"a": {next(counter)}, "b": 1}}')
    )
    result = await ToolAgent(loop, [multiply], max_steps=3, final_turn=False).run("q")
    assert (
        result.stop_reason == "max_steps"
        and "after 3 model calls" in result.detail
        and result.stats.tool_calls == 3
    )

    wrong = ScriptedModel(lambda msgs, tools: ToolCall(name="divide", arguments="{}"))
    result = await ToolAgent(wrong, [multiply], max_tool_errors=2).run("q")
    assert result.stop_reason == "max_tool_errors" and "no tool named 'divide'" in result.detail
    assert result.stats.tool_errors == 2


async def test_model_error_stops_cleanly() -> None:
    def down(msgs: list[Message], tools: object) -> str:
        raise ModelUnavailable("server at 127.0.0.1:9 is down")

    result = await ToolAgent(ScriptedModel(down), [multiply]).run("q")
    assert result.stop_reason == "model_error" and "ModelUnavailable" in result.detail


async def test_turn_guards_block_and_rewrite() -> None:
    async def no_secrets(ctx: TurnContext) -> HookVerdict:
        if ctx.stage == "input" and "password" in ctx.text:
            return HookVerdict.block("asks for credentials")
        if ctx.stage == "output":
            return HookVerdict.rewrite(result=ctx.text.replace("42", "forty-two"))
        return HookVerdict.allow()

    model = text_model(['{"final_answer": "it is 42"}'])
    agent = ToolAgent(model, [multiply], turn_guards=[no_secrets])
    blocked = await agent.run("tell me the admin password")
    assert blocked.stop_reason == "blocked_input" and blocked.answer == agent.refusal_text
    assert blocked.stats.steps == 0 and model.calls == []
    ok = await agent.run("what is it?")
    assert ok.answer == "it is forty-two"
    assert [v["action"] for v in ok.turn_verdicts] == ["allow", "rewrite"]

    async def deny_output(ctx: TurnContext) -> HookVerdict:
        return HookVerdict.block("unsafe answer") if ctx.stage == "output" else HookVerdict.allow()

    out = await ToolAgent(text_model(['{"final_answer": "x"}']), [], turn_guards=[deny_output]).run("q")
    assert out.stop_reason == "blocked_output" and "unsafe answer" in out.detail


def test_parse_reply_shapes_and_errors() -> None:
    assert parse_reply('{"answer": "hi"}').final_answer == "hi"
    single = parse_reply('Thought: use it. {"name": "multiply", "arguments": "{\\"a\\": 1}"}')
    assert single.tool_calls[0].name == "multiply" and json.loads(single.tool_calls[0].arguments) == {"a": 1}
    for bad, msg in [
        ("", "empty"),
        ("[1]", "no JSON object"),
        ('{"x": 1}', 'neither "tool_calls" nor "final_answer"'),
        ('{"tool_calls": []}', "non-empty list"),
        ('{"tool_calls": [{"arguments": {}}]}', 'string "name"'),
        ('{"tool_calls": [{"name": "m", "arguments": 3}]}', "must be an object"),
    ]:
        with pytest.raises(ModelOutputError, match=msg):
            parse_reply(bad)


async def test_as_node_in_graph_with_tool_call_events() -> None:
    from phalanx.agents.graph import END, START, GraphBuilder

    class State(BaseModel):
        query: str = ""
        answer: str | None = None
        agent_result: dict | None = None

    model = ScriptedModel(
        lambda msgs, tools: (
            ToolCall(name="multiply", arguments='{"a": 3, "b": 4}')
            if msgs[-1].role == "user"
            else msgs[-1].content
        )
    )
    node = ToolAgent(model, [multiply]).as_node(result_key="agent_result")
    runtime = (
        GraphBuilder(State, name="agent")
        .add_node("agent", node)
        .add_edge(START, "agent")
        .add_edge("agent", END)
        .compile()
    )
    events = [e async for e in runtime.stream({"query": "3*4?"})]
    final = events[-1].data["state"]
    assert final.answer == "12" and final.agent_result["stop_reason"] == "final_answer"
    calls = [e for e in events if e.kind == "tool_call"]
    assert len(calls) == 1 and calls[0].data["name"] == "multiply" and calls[0].node == "agent"


def test_native_protocol_needs_a_tool_capable_model() -> None:
    with pytest.raises(ValueError, match="supports_tools=False"):
        ToolAgent(text_model([]), [multiply], protocol="native")
    with pytest.raises(ValueError, match="limits must be positive"):
        ToolAgent(text_model([]), [multiply], max_steps=0)


async def test_ask_human_hook_interrupts_the_agent_node_and_resume_finishes() -> None:
    from phalanx.agents.graph import END, START, GraphBuilder
    from phalanx.tools import ToolCallContext, ToolHook, Toolset

    class AskBeforeMultiply(ToolHook):
        async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
            return HookVerdict.ask_human(f"multiply {ctx.args}?")

    class State(BaseModel):
        query: str = ""
        answer: str | None = None

    model = ScriptedModel(
        lambda msgs, tools: (
            ToolCall(name="multiply", arguments='{"a": 5, "b": 6}')
            if msgs[-1].role == "user"
            else f"tool said: {msgs[-1].content}"
        )
    )
    agent = ToolAgent(model, Toolset([multiply], hooks=[AskBeforeMultiply()]))
    runtime = (
        GraphBuilder(State, name="hitl")
        .add_node("agent", agent.as_node())
        .add_edge(START, "agent")
        .add_edge("agent", END)
        .compile(checkpointer="memory")
    )
    paused = await runtime.run({"query": "5*6?"}, thread_id="h1")
    assert paused.answer is None
    [pending] = await runtime.pending_interrupts("h1")
    assert pending.value["question"] == "multiply {'a': 5, 'b': 6}?"
    done = await runtime.resume("h1", value=True)
    assert done.answer == "tool said: 30"
    await runtime.run({"query": "5*6?"}, thread_id="h2")
    denied = await runtime.resume("h2", value=False)
    assert denied.answer.startswith("tool said: Blocked") and "human declined" in denied.answer


async def test_a_reply_without_json_is_the_final_answer() -> None:
    model = text_model(["The product of 6 and 7 is 42."])
    result = await ToolAgent(model, [multiply], max_repairs=2).run("What is 6*7?")
    assert result.stop_reason == "final_answer" and result.answer == "The product of 6 and 7 is 42."
    assert result.stats.repairs == 0 and result.stats.steps == 1
    assert "without JSON" in result.detail


@pytest.mark.parametrize(
    "echo", ["<your answer to the user>", "...", "<the final answer>", " <answer here> "]
)
async def test_a_placeholder_echo_is_never_the_answer(echo: str) -> None:
    model = text_model([json.dumps({"final_answer": echo}), echo, '{"final_answer": "42"}'])
    result = await ToolAgent(model, [multiply], max_repairs=2).run("What is 6*7?")
    assert result.answer == "42" and result.stats.repairs == 2
    repairs = [
        m.content for m in result.messages if m.role == "user" and "could not be used" in (m.content or "")
    ]
    assert "placeholder" in repairs[0]

    stubborn = text_model([json.dumps({"final_answer": echo})] * 3)
    result = await ToolAgent(stubborn, [multiply], max_repairs=1).run("What is 6*7?")
    assert result.stop_reason == "malformed_output" and result.answer is None


async def test_the_agent_asks_for_the_protocol_schema() -> None:
    seen: list[object] = []

    class Recorder(ScriptedModel):
        async def chat(self, messages, *, json_mode=False, **kwargs):  # type: ignore[override]
            seen.append(json_mode)
            return await super().chat(messages, json_mode=json_mode, **kwargs)

    model = Recorder(lambda msgs, tools: '{"final_answer": "ok"}')
    model.supports_tools = False
    await ToolAgent(model, [multiply]).run("hi")
    schema = seen[0]
    assert isinstance(schema, dict)
    call = schema["anyOf"][0]["properties"]["tool_calls"]["items"]
    assert call["properties"]["name"] == {"const": "multiply"}
    assert call["properties"]["arguments"]["required"] == ["a", "b"]
    assert call["properties"]["arguments"]["additionalProperties"] is False
    assert schema["anyOf"][1]["required"] == ["final_answer"]


async def test_a_repeated_call_is_not_rerun_and_the_next_turn_asks_for_the_answer() -> None:
    offered: list[object] = []

    def same_call(msgs: list[Message], tools: object) -> ToolCall | str:
        offered.append(tools)
        if tools is None:  # the final turn offers no tools
            return "The product is 6."
        return ToolCall(
            name="multiply", arguments='{"b": 3, "a": 2}' if len(offered) > 1 else '{"a": 2, "b": 3}'
        )

    result = await ToolAgent(ScriptedModel(same_call), [multiply], max_steps=6).run("2*3?")
    assert result.stop_reason == "final_answer" and result.answer == "The product is 6."
    assert [c.status for c in result.tool_calls] == ["ok", "repeated"]
    assert result.stats.repeated_calls == 1 and result.stats.steps == 3
    assert result.tool_calls[1].content == "6"
    assert offered[2] is None and result.messages[-1].role == "assistant"


async def test_the_last_allowed_call_only_accepts_a_final_answer() -> None:
    seen: list[object] = []

    class Recorder(ScriptedModel):
        async def chat(self, messages, *, json_mode=False, **kwargs):  # type: ignore[override]
            seen.append((json_mode, messages[-1].content))
            return await super().chat(messages, json_mode=json_mode, **kwargs)

    counter = iter(range(100))

    def reply(msgs: list[Message], tools: object) -> str:
        n = next(counter)
        return (
            '{"final_answer": "done"}'
            if n == 2
            else json.dumps({"tool_calls": [{"name": "multiply", "arguments": {"a": n, "b": 2}}]})
        )

    model = Recorder(reply)
    model.supports_tools = False
    result = await ToolAgent(model, [multiply], max_steps=3).run("q")
    assert result.answer == "done"
    schemas = [s for s, _ in seen]
    assert "anyOf" in schemas[0] and schemas[2] == {
        "type": "object",
        "properties": {"final_answer": {"type": "string"}},
        "required": ["final_answer"],
        "additionalProperties": False,
    }
    assert "Give your final answer now" in seen[2][1] and "If these results answer" in seen[1][1]


async def test_identical_calls_in_one_reply_run_once() -> None:
    runs: list[int] = []

    @tool
    def count(n: int) -> int:
        """Count a call."""
        runs.append(n)
        return n

    replies = iter(
        [[ToolCall(name="count", arguments='{"n": 1}')] * 3 + [ToolCall(name="count", arguments='{"n": 2}')]]
    )

    def reply(msgs: list[Message], tools: object) -> Message | str:
        batch = next(replies, None)
        return Message.assistant(tool_calls=batch) if batch else "done"

    result = await ToolAgent(ScriptedModel(reply), [count]).run("q")
    assert runs == [1, 2] and result.answer == "done"
    assert [c.status for c in result.tool_calls] == ["ok", "repeated", "repeated", "ok"]
