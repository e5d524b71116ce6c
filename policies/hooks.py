"""Adapters that put a `PolicyStack` on the agent's paths.

* `PolicyToolHook` is a `phalanx.tools.ToolHook`: execution-stage guards in
  `before_call`, output-stage guards on each result in `after_call`.
* `PolicyTurnGuard` is a `phalanx.tools.TurnGuard` (the `ToolAgent`'s turn guards): input-stage guards on the user turn,
  output-stage guards on the final answer.

Every verdict is also appended to `verdicts` (a list shared by both adapters when built
with `policy_adapters`) so audits can record them.
"""

from __future__ import annotations

from typing import Any

from phalanx.models import Message
from phalanx.policies.stack import PolicyStack
from phalanx.policies.types import GuardAction, GuardVerdict, ToolSpec
from phalanx.tools import HookVerdict, ToolCallContext, ToolHook, ToolResult, TurnContext


def _last_user(messages: list[Message] | None) -> str:
    for m in reversed(messages or []):
        if m.role == "user":
            return m.content or ""
    return ""


def tool_spec(tool: Any) -> ToolSpec:
    """A guard's view of a `phalanx.tools.Tool` (risk flags become annotations)."""
    risk = getattr(tool, "risk", None)
    notes: dict[str, Any] = {}
    if risk is not None:
        notes = {k: v for k, v in risk.model_dump().items() if v}
    return ToolSpec(tool.name, tool.description or "", dict(tool.parameters or {}), notes)


class PolicyToolHook(ToolHook):
    """Execution- and output-stage guards on every tool call."""

    name = "phalanx-policy"

    def __init__(self, stack: PolicyStack, verdicts: list[GuardVerdict] | None = None) -> None:
        self.stack = stack
        self.verdicts: list[GuardVerdict] = verdicts if verdicts is not None else []

    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        decision = await self.stack.check_call(
            tool_spec(ctx.tool), dict(ctx.args), query=_last_user(ctx.messages)
        )
        self.verdicts.extend(decision.verdicts)
        if decision.action == GuardAction.BLOCK:
            return HookVerdict.block(f"blocked by phalanx policy: {decision.reason}")
        if decision.action == GuardAction.ASK_HUMAN:
            return HookVerdict.ask_human(decision.question or decision.reason)
        return HookVerdict.allow()

    async def after_call(self, ctx: ToolCallContext, result: ToolResult) -> HookVerdict:
        if result.status != "ok":
            return HookVerdict.allow()
        decision = await self.stack.check_result(
            tool_spec(ctx.tool), dict(ctx.args), result.content, query=_last_user(ctx.messages)
        )
        self.verdicts.extend(decision.verdicts)
        if decision.action == GuardAction.BLOCK:
            return HookVerdict.rewrite(result=decision.content, reason=decision.reason)
        if decision.content is not None and decision.content != result.content:
            return HookVerdict.rewrite(result=decision.content, reason=decision.reason)
        return HookVerdict.allow()


class PolicyTurnGuard:
    """Input-stage guards on the user turn and output-stage guards on the final answer."""

    name = "phalanx-policy"

    def __init__(self, stack: PolicyStack, verdicts: list[GuardVerdict] | None = None) -> None:
        self.stack = stack
        self.verdicts: list[GuardVerdict] = verdicts if verdicts is not None else []

    async def __call__(self, ctx: TurnContext) -> HookVerdict:
        if ctx.stage == "input":
            decision = await self.stack.screen_input(ctx.text)
        else:
            tool_results = [m.content or "" for m in ctx.messages if m.role == "tool"]
            decision = await self.stack.check_answer(
                ctx.text, query=_last_user(ctx.messages), tool_results=tool_results
            )
        self.verdicts.extend(decision.verdicts)
        if decision.action in (GuardAction.BLOCK, GuardAction.ASK_HUMAN):
            return HookVerdict.block(decision.reason)
        if decision.content is not None and decision.content != ctx.text:
            return HookVerdict.rewrite(result=decision.content)
        return HookVerdict.allow()


def policy_adapters(stack: PolicyStack) -> tuple[PolicyToolHook, PolicyTurnGuard, list[GuardVerdict]]:
    """A tool hook and a turn guard for `stack` that record into one shared verdict list."""
    verdicts: list[GuardVerdict] = []
    return PolicyToolHook(stack, verdicts), PolicyTurnGuard(stack, verdicts), verdicts
