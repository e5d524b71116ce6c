"""Rewrite, on_error recovery, ask_human (approver, graph interrupt, neither), timeouts, retries."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from phalanx.tools import (
    ApprovalUnavailable,
    FunctionHook,
    HookVerdict,
    RetryConfig,
    ToolCallContext,
    ToolHook,
    Toolset,
    tool,
)


@tool
def echo(text: str, times: int = 1) -> str:
    """Repeat text."""
    return text * times


@tool
def explode(kind: str) -> str:
    """Always fails."""
    raise ValueError(f"boom {kind}")


async def test_rewrite_args_then_result_and_later_hooks_see_rewrites() -> None:
    seen: list[dict] = []
    hooks = [
        FunctionHook(before=lambda ctx: HookVerdict.rewrite(args={**ctx.args, "times": 2}), name="double"),
        FunctionHook(
            before=lambda ctx: seen.append(dict(ctx.args)),
            after=lambda ctx, r: HookVerdict.rewrite(result=r.output.upper()),
        ),
    ]
    r = await Toolset([echo], hooks=hooks).call("echo", {"text": "ab"})
    assert seen == [{"text": "ab", "times": 2}]
    assert r.status == "ok" and r.content == "ABAB" and r.args == {"text": "ab", "times": 2}
    assert [(v.hook, v.stage, v.action) for v in r.verdicts] == [
        ("double", "before_call", "rewrite"),
        ("FunctionHook", "before_call", "allow"),
        ("double", "after_call", "allow"),
        ("FunctionHook", "after_call", "rewrite"),
    ]


async def test_invalid_rewrite_is_an_error_and_body_does_not_run() -> None:
    hook = FunctionHook(before=lambda ctx: HookVerdict.rewrite(args={"text": 3, "times": "x"}))
    r = await Toolset([echo], hooks=[hook]).call("echo", {"text": "a"})
    assert r.status == "error" and "rewrote the arguments into invalid ones" in r.content


async def test_after_call_block_withholds_result() -> None:
    hook = FunctionHook(
        after=lambda ctx, r: HookVerdict.block("leaks secrets") if "TOPSECRET" in r.content else None
    )
    ts = Toolset([echo], hooks=[hook])
    assert (await ts.call("echo", {"text": "fine"})).content == "fine"
    r = await ts.call("echo", {"text": "TOPSECRET"})
    assert (
        r.status == "blocked"
        and "TOPSECRET" not in r.content
        and r.output is None
        and "leaks secrets" in r.content
    )


async def test_on_error_can_recover_or_block() -> None:
    recover = FunctionHook(error=lambda ctx, exc: HookVerdict.rewrite(result=f"recovered from {exc}"))
    r = await Toolset([explode], hooks=[recover]).call("explode", {"kind": "a"})
    assert r.status == "ok" and r.content == "recovered from boom a"
    plain = await Toolset([explode]).call("explode", {"kind": "b"})
    assert plain.status == "error" and "ValueError: boom b" in plain.content
    block = FunctionHook(error=lambda ctx, exc: HookVerdict.block("do not retry"))
    r = await Toolset([explode], hooks=[block]).call("explode", {"kind": "c"})
    assert r.status == "blocked" and "do not retry" in r.content


class AskFirst(ToolHook):
    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        return HookVerdict.ask_human(f"run {ctx.tool.name} with {ctx.args}?")


async def test_ask_human_with_approver() -> None:
    questions: list[str] = []

    async def approver(question: str, ctx: ToolCallContext) -> bool:
        questions.append(question)
        return ctx.args["text"] != "rm -rf"

    ts = Toolset([echo], hooks=[AskFirst()], approver=approver)
    assert (await ts.call("echo", {"text": "ls"})).status == "ok"
    denied = await ts.call("echo", {"text": "rm -rf"})
    assert denied.status == "blocked" and "human declined" in denied.content
    assert len(questions) == 2 and "echo" in questions[0]
    rewritten = await Toolset(
        [echo], hooks=[AskFirst()], approver=lambda q, c: {"args": {"text": "safe"}}
    ).call("echo", {"text": "x"})
    assert rewritten.content == "safe"


async def test_ask_human_outside_graph_without_approver_raises() -> None:
    with pytest.raises(ApprovalUnavailable, match="approver"):
        await Toolset([echo], hooks=[AskFirst()]).call("echo", {"text": "a"})


async def test_ask_human_inside_graph_interrupts_and_resumes() -> None:
    from phalanx.agents.graph import END, START, GraphBuilder

    ts = Toolset([echo], hooks=[AskFirst()])

    class State(BaseModel):
        text: str = ""
        out: str = ""

    async def node(state: State) -> dict:
        return {"out": (await ts.call("echo", {"text": state.text})).content}

    graph = (
        GraphBuilder(State, name="approval")
        .add_node("call", node)
        .add_edge(START, "call")
        .add_edge("call", END)
    )
    runtime = graph.compile(checkpointer="memory")
    await runtime.run({"text": "hi"}, thread_id="t1")
    pending = await runtime.pending_interrupts("t1")
    assert (
        len(pending) == 1
        and pending[0].value["tool"] == "echo"
        and pending[0].value["kind"] == "tool_approval"
    )
    final = await runtime.resume("t1", value=True)
    assert final.out == "hi"
    await runtime.run({"text": "no"}, thread_id="t2")
    final = await runtime.resume("t2", value="no")
    assert final.out.startswith("Blocked")


async def test_timeout_and_retry() -> None:
    import asyncio

    @tool(timeout_s=0.05)
    async def slow() -> str:
        """Sleeps too long."""
        await asyncio.sleep(2)
        return "late"

    attempts: list[int] = []

    @tool(retry=RetryConfig(max_attempts=3, wait_s=0.0))
    def flaky() -> str:
        """Fails twice with a transient error."""
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    ts = Toolset([slow, flaky])
    r = await ts.call("slow")
    assert r.status == "timeout" and "timed out after 0.05s" in r.content
    r = await ts.call("flaky")
    assert r.status == "ok" and r.attempts == 3 and ts.stats.retries == 2 and ts.stats.timeouts == 1
