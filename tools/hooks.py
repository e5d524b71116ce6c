"""Tool hooks: the ordered chain every tool call passes through.

A `ToolHook` sees a call three times: `before_call` (may block, rewrite the
arguments or ask a human), `after_call` (may block or rewrite the result) and
`on_error` (may replace a failure with a result, or block). ToolSword guards
(`phalanx.policies`) are hooks; so is anything else that must see every call.

A `TurnGuard` is the same idea one level up: it sees the user turn and the final answer of an
agent run (`phalanx.agents.tool_agent.ToolAgent` calls it). It is defined here, in the lowest
layer that both its implementations (`phalanx.policies`) and its caller (`phalanx.agents`) may
import.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from phalanx.tools.errors import ApprovalUnavailable
from phalanx.tools.types import HookVerdict, ToolCallContext, ToolResult, TurnContext

Approver = Callable[[str, ToolCallContext], "bool | HookVerdict | Awaitable[bool | HookVerdict]"]
"""Callback answering an `ask_human` question: True/False (allow/block) or a `HookVerdict`."""

TurnGuard = Callable[[TurnContext], Awaitable[HookVerdict]]
"""An async callable checking the user turn or the final answer.

It returns `HookVerdict.allow()`, `.block(reason)` (the run stops with
`blocked_input` / `blocked_output` and answers with the agent's refusal text) or
`.rewrite(result="new text")` (the text is replaced). ToolSword's input- and
output-stage guards plug in here; tool-stage guards are `ToolHook`s on the toolset.
"""


class ToolHook:
    """Base class of a hook; override only the stages you need (the defaults allow).

    Contract: each method returns a `HookVerdict` and must not raise for ordinary
    decisions (an exception in a hook fails the call closed: it is recorded and
    the call is blocked). Hooks run in the order they were given; the first
    `block` ends the chain for that stage.
    """

    name: str = ""
    """Name shown in the audit log (defaults to the class name)."""

    @property
    def hook_name(self) -> str:
        return self.name or type(self).__name__

    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        """Decide on a call before the body runs (args are already validated)."""
        return HookVerdict.allow()

    async def after_call(self, ctx: ToolCallContext, result: ToolResult) -> HookVerdict:
        """Decide on a finished call's result before the model sees it."""
        return HookVerdict.allow()

    async def on_error(self, ctx: ToolCallContext, exc: BaseException) -> HookVerdict:
        """Decide on a failed call (`rewrite(result=...)` recovers it)."""
        return HookVerdict.allow()


class FunctionHook(ToolHook):
    """A hook built from plain (sync or async) callables, handy in tests and scripts."""

    def __init__(
        self,
        before: Callable[[ToolCallContext], Any] | None = None,
        after: Callable[[ToolCallContext, ToolResult], Any] | None = None,
        error: Callable[[ToolCallContext, BaseException], Any] | None = None,
        name: str = "FunctionHook",
    ) -> None:
        self._before, self._after, self._error = before, after, error
        self.name = name

    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        return await _maybe(self._before, ctx) if self._before else HookVerdict.allow()

    async def after_call(self, ctx: ToolCallContext, result: ToolResult) -> HookVerdict:
        return await _maybe(self._after, ctx, result) if self._after else HookVerdict.allow()

    async def on_error(self, ctx: ToolCallContext, exc: BaseException) -> HookVerdict:
        return await _maybe(self._error, ctx, exc) if self._error else HookVerdict.allow()


async def _maybe(fn: Callable[..., Any], *args: Any) -> Any:
    out = fn(*args)
    if inspect.isawaitable(out):
        out = await out
    return HookVerdict.allow() if out is None else out


def _inside_graph() -> bool:
    try:
        from langgraph.config import get_config
    except ImportError:  # pragma: no cover - langgraph is a dependency
        return False
    try:
        get_config()
    except RuntimeError:
        return False
    return True


async def resolve_ask_human(question: str, ctx: ToolCallContext, approver: Approver | None) -> HookVerdict:
    """Turn an `ask_human` verdict into allow/block/rewrite.

    Inside a graph node the runtime's `interrupt` pauses the run (the graph's
    `resume(thread_id, value)` answers; True/"yes" allows, False/"no" blocks, a
    dict `{"args": {...}}` rewrites). Outside a graph the `approver` callback
    answers. The approver wins when both exist, so tests and CLIs stay in control.

    Raises:
        ApprovalUnavailable: neither a graph nor an approver is available.
    """
    if approver is not None:
        answer = approver(question, ctx)
        if inspect.isawaitable(answer):
            answer = await answer
        return _answer_to_verdict(answer, question)
    if _inside_graph():
        from langgraph.types import interrupt

        answer = interrupt(
            {
                "kind": "tool_approval",
                "question": question,
                "tool": ctx.tool.name,
                "args": ctx.args,
                "call_id": ctx.call_id,
            }
        )
        return _answer_to_verdict(answer, question)
    raise ApprovalUnavailable(
        f"a hook asked a human about tool {ctx.tool.name!r} ({question!r}) but this call runs outside a "
        "graph and the toolset has no approver; pass Toolset(..., approver=fn) or run it in a graph node"
    )


def _answer_to_verdict(answer: Any, question: str) -> HookVerdict:
    if isinstance(answer, HookVerdict):
        if answer.action == "ask_human":
            raise ValueError("an approver must not answer ask_human with another ask_human")
        return answer
    if isinstance(answer, dict) and isinstance(answer.get("args"), dict):
        return HookVerdict.rewrite(args=answer["args"], reason="rewritten by a human")
    if isinstance(answer, str):
        answer = answer.strip().lower() in {"y", "yes", "true", "allow", "approve", "ok"}
    if answer:
        return HookVerdict.allow()
    return HookVerdict.block(f"a human declined: {question}")
