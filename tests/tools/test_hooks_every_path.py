"""A blocking hook is honoured on every call path, and no public path runs a tool body around it."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from phalanx.models import Message, ToolCall
from phalanx.models.scripted import ScriptedModel
from phalanx.tools import HookVerdict, Tool, ToolCallContext, ToolDirectCallError, ToolHook, Toolset, tool

RUNS: list[str] = []


@tool
def sync_tool(x: int) -> int:
    """Sync body."""
    RUNS.append("sync")
    return x


@tool(timeout_s=5)
def sync_threaded(x: int) -> int:
    """Sync body run in a worker thread (it has a timeout)."""
    RUNS.append("threaded")
    return x


@tool
async def async_tool(x: int) -> int:
    """Async body."""
    RUNS.append("async")
    return x


class BlockAll(ToolHook):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        self.seen.append(ctx.tool.name)
        return HookVerdict.block(f"no {ctx.tool.name}")


@pytest.fixture(autouse=True)
def _reset() -> None:
    RUNS.clear()


@pytest.mark.parametrize("t", [sync_tool, sync_threaded, async_tool], ids=lambda t: t.name)
async def test_single_calls_are_blocked(t: Tool) -> None:
    hook = BlockAll()
    result = await Toolset([t], hooks=[hook]).call(t.name, {"x": 1})
    assert result.status == "blocked" and f"no {t.name}" in result.content
    assert hook.seen == [t.name] and RUNS == []


async def test_parallel_calls_are_blocked() -> None:
    hook = BlockAll()
    ts = Toolset([sync_tool, async_tool], hooks=[hook])
    calls = [ToolCall(name=n, arguments='{"x": 2}') for n in ["sync_tool", "async_tool"] * 3]
    results = await ts.call_many(calls)
    assert [r.status for r in results] == ["blocked"] * 6 and RUNS == []
    assert [r.call_id for r in results] == [c.id for c in calls]


def test_sync_entry_point_is_blocked() -> None:
    result = Toolset([sync_tool], hooks=[BlockAll()]).call_sync("sync_tool", '{"x": 3}')
    assert result.status == "blocked" and RUNS == []


async def test_nested_toolset_inherits_outer_hooks() -> None:
    inner = Toolset([async_tool])  # no hooks of its own

    @tool
    async def delegate(x: int) -> str:
        """Calls another toolset from inside a tool body."""
        return (await inner.call("async_tool", {"x": x})).status

    class BlockAsyncTool(ToolHook):
        async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
            return HookVerdict.block("inner call") if ctx.tool.name == "async_tool" else HookVerdict.allow()

    outer = Toolset([delegate], hooks=[BlockAsyncTool()])
    result = await outer.call("delegate", {"x": 1})
    assert result.status == "ok" and result.output == "blocked" and RUNS == []
    assert (
        await inner.call("async_tool", {"x": 1})
    ).status == "ok"  # outside the outer call: its own (empty) chain


async def test_nested_agent_tools_are_blocked() -> None:
    from phalanx.agents.tool_agent import ToolAgent

    def inner_script(messages: list[Message], tools: object) -> ToolCall | str:
        if messages[-1].role == "tool":
            return f"inner saw: {messages[-1].content}"
        return ToolCall(name="async_tool", arguments='{"x": 5}')

    inner_agent = ToolAgent(ScriptedModel(inner_script), [async_tool], name="helper")

    def outer_script(messages: list[Message], tools: object) -> ToolCall | str:
        if messages[-1].role == "tool":
            return messages[-1].content or ""
        return ToolCall(name="helper", arguments='{"task": "compute"}')

    class BlockAsyncTool(ToolHook):
        async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
            return HookVerdict.block("guarded") if ctx.tool.name == "async_tool" else HookVerdict.allow()

    outer = ToolAgent(ScriptedModel(outer_script), Toolset([inner_agent.as_tool()], hooks=[BlockAsyncTool()]))
    result = await outer.run("go")
    assert result.stop_reason == "final_answer"
    assert "Blocked" in (result.answer or "") and "guarded" in (result.answer or "")
    assert RUNS == []


async def test_agent_loop_calls_are_blocked() -> None:
    from phalanx.agents.tool_agent import ToolAgent

    model = ScriptedModel(
        lambda msgs, tools: (
            Message.assistant(
                tool_calls=[
                    ToolCall(name="sync_tool", arguments='{"x":1}'),
                    ToolCall(name="async_tool", arguments='{"x":1}'),
                ]
            )
            if msgs[-1].role == "user"
            else "done"
        )
    )
    result = await ToolAgent(model, Toolset([sync_tool, async_tool], hooks=[BlockAll()])).run("q")
    assert [c.status for c in result.tool_calls] == ["blocked", "blocked"] and RUNS == []
    assert result.stats.blocked_calls == 2


def test_no_public_way_to_run_a_body() -> None:
    for t in (sync_tool, async_tool):
        with pytest.raises(ToolDirectCallError, match="through a Toolset"):
            t(x=1)
        # Every public attribute is data or returns a new Tool/spec; none runs the body.
        for name in dir(t):
            if name.startswith("_"):
                continue
            attr = getattr(t, name)
            if callable(attr) and not inspect.isclass(attr):
                try:
                    out = attr()
                except TypeError:
                    out = None
                if inspect.isawaitable(out):
                    out.close()  # pragma: no cover - would mean a public coroutine path exists
                    pytest.fail(f"Tool.{name} returns an awaitable")
        assert RUNS == []
    assert not hasattr(sync_tool, "fn") and not hasattr(sync_tool, "func")


async def test_hook_exception_fails_closed_and_bad_verdict_is_blocked() -> None:
    class Broken(ToolHook):
        async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
            raise RuntimeError("bug in guard")

    class NotAVerdict(ToolHook):
        async def before_call(self, ctx: ToolCallContext):  # type: ignore[override]
            return True

    for hook in (Broken(), NotAVerdict()):
        r = await Toolset([async_tool], hooks=[hook]).call("async_tool", {"x": 1})
        assert r.status == "blocked" and "fail safe" in r.content
    assert RUNS == []


async def test_parallel_calls_really_overlap() -> None:
    started: list[float] = []
    gate = asyncio.Event()

    @tool
    async def wait_for_peer(i: int) -> int:
        """Finishes only once both calls have started."""
        started.append(i)
        if len(started) == 2:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)
        return i

    results = await Toolset([wait_for_peer]).call_many(
        [ToolCall(name="wait_for_peer", arguments=f'{{"i": {i}}}') for i in (1, 2)]
    )
    assert [r.output for r in results] == [1, 2]
