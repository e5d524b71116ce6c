"""The one call path of a tool call: hooks before, the body (timeout, retry), hooks after / on error.

`Toolset.call` parses and validates the arguments, then hands the call to
`run_chain`; nothing else runs a tool body. Tool calls made while a body runs (a
nested toolset or agent inside a tool) inherit the running call's hooks, audit
log and approver through a context variable, so guards also see inner calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from phalanx.tools.audit import AuditLog
from phalanx.tools.errors import ApprovalUnavailable, ToolTimeout, ToolUnbound
from phalanx.tools.hooks import Approver, ToolHook, resolve_ask_human
from phalanx.tools.schema import describe_issues
from phalanx.tools.tool import Tool
from phalanx.tools.types import (
    CallStats,
    HookVerdict,
    ToolCallContext,
    ToolResult,
    VerdictRecord,
    render_output,
)

_ALLOW = HookVerdict.allow()
_ID_PREFIX = "call_" + os.urandom(6).hex()
_ids = itertools.count()


def new_call_id() -> str:
    """A fresh tool-call id (cheaper than uuid4 on the hot path; the per-process prefix keeps ids unique)."""
    return f"{_ID_PREFIX}{next(_ids):012x}"


# (hooks, audit, approver) of the call currently running a tool body, if any.
OUTER_CALL: contextvars.ContextVar[tuple[tuple[ToolHook, ...], AuditLog | None, Approver | None] | None] = (
    contextvars.ContextVar("phalanx_tool_outer_call", default=None)
)


def _bubbles(exc: BaseException) -> bool:
    # The runtime's interrupt (LangGraph's GraphBubbleUp family) must pass through
    # untouched; checked by name so importing phalanx.tools does not import langgraph.
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(exc).__mro__)


class _Stop(Exception):
    """Internal: a hook ended the call with a final result."""

    def __init__(self, result: ToolResult) -> None:
        self.result = result


async def run_chain(
    ctx: ToolCallContext,
    validated: BaseModel,
    hooks: tuple[ToolHook, ...],
    audit: AuditLog | None,
    approver: Approver | None,
    stats: CallStats,
) -> ToolResult:
    """Run a validated call: `before_call` hooks, the body, then `on_error` or `after_call` hooks.

    Never raises for a failing call (the result carries the status); raises only the
    runtime's interrupt, `ApprovalUnavailable` and cancellation.
    """
    tool = ctx.tool
    try:
        validated = await _before(ctx, validated, hooks, approver)
    except _Stop as stop:
        return stop.result
    result = ToolResult(
        call_id=ctx.call_id, tool=tool.name, status="ok", args=ctx.args, verdicts=ctx.verdicts
    )
    token = OUTER_CALL.set((hooks, audit, approver))
    try:
        result.output = await _body(ctx, validated, result, stats)
        result.content = render_output(result.output)
    except Exception as exc:
        if _bubbles(exc):
            raise
        _describe_failure(result, exc)
        for hook in hooks:
            verdict = await _ask(hook, "on_error", ctx, hook.on_error(ctx, exc), approver)
            if verdict.action == "block":
                _block(result, hook, verdict)
                break
            if verdict.action == "rewrite" and verdict.has_result:
                result.status, result.error, result.output = "ok", None, verdict.result
                result.content = render_output(verdict.result)
                break
    finally:
        OUTER_CALL.reset(token)
    if result.status == "ok":
        for hook in hooks:
            verdict = await _ask(hook, "after_call", ctx, hook.after_call(ctx, result), approver)
            if verdict.action == "block":
                _block(result, hook, verdict, withheld=True)
                break
            if verdict.action == "rewrite" and verdict.has_result:
                result.output = verdict.result
                result.content = render_output(verdict.result)
    return result


async def _before(
    ctx: ToolCallContext,
    validated: BaseModel,
    hooks: tuple[ToolHook, ...],
    approver: Approver | None,
) -> BaseModel:
    for hook in hooks:
        verdict = await _ask(hook, "before_call", ctx, hook.before_call(ctx), approver)
        if verdict.action == "block":
            result = ToolResult(
                call_id=ctx.call_id,
                tool=ctx.tool.name,
                status="blocked",
                args=ctx.args,
                verdicts=ctx.verdicts,
            )
            _block(result, hook, verdict)
            raise _Stop(result)
        if verdict.action != "rewrite":
            continue
        if verdict.has_result:  # answered without running the body (cache, simulation)
            out = verdict.result
            raise _Stop(
                ToolResult(
                    call_id=ctx.call_id,
                    tool=ctx.tool.name,
                    status="ok",
                    output=out,
                    content=render_output(out),
                    args=ctx.args,
                    verdicts=ctx.verdicts,
                )
            )
        try:
            validated = ctx.tool.args_model.model_validate(verdict.args)
        except ValidationError as exc:
            result = invalid_result(ctx.tool, ctx.call_id, describe_issues(exc))
            result.error = f"hook {hook.hook_name} rewrote the arguments into invalid ones: {result.error}"
            result.status, result.verdicts, result.content = (
                "error",
                ctx.verdicts,
                f"Error: {result.error}",
            )
            raise _Stop(result) from exc
        ctx.args = dict(verdict.args or {})
    return validated


async def _ask(
    hook: ToolHook, stage: str, ctx: ToolCallContext, pending: Any, approver: Approver | None
) -> HookVerdict:
    """Await one hook stage; failures and bad verdicts fail closed (block)."""
    try:
        verdict = await pending
        if verdict is _ALLOW:  # the common case, kept short (see benchmarks/tool_overhead.py)
            ctx.verdicts.append(VerdictRecord(hook.hook_name, stage, "allow"))  # type: ignore[arg-type]
            return verdict
        verdict = await _check(hook, stage, ctx, verdict, approver)
    except Exception as exc:
        if _bubbles(exc) or isinstance(exc, ApprovalUnavailable):
            raise
        verdict = HookVerdict.block(
            f"hook {hook.hook_name} failed ({type(exc).__name__}: {exc}); blocked to fail safe"
        )
    ctx.verdicts.append(VerdictRecord(hook.hook_name, stage, verdict.action, verdict.reason))  # type: ignore[arg-type]
    return verdict


async def _check(
    hook: ToolHook, stage: str, ctx: ToolCallContext, verdict: Any, approver: Approver | None
) -> HookVerdict:
    if not isinstance(verdict, HookVerdict):
        raise TypeError(f"{stage} returned {type(verdict).__name__}, not a HookVerdict")
    if verdict.action == "rewrite" and verdict.args is not None and stage != "before_call":
        raise ValueError(f"{stage} may only rewrite the result, not the arguments")
    if verdict.action == "ask_human":
        ctx.verdicts.append(VerdictRecord(hook.hook_name, stage, "ask_human", verdict.question))  # type: ignore[arg-type]
        verdict = await resolve_ask_human(verdict.question or "", ctx, approver)
    return verdict


async def _body(ctx: ToolCallContext, validated: BaseModel, result: ToolResult, stats: CallStats) -> Any:
    tool = ctx.tool
    retry = tool.retry
    if retry.max_attempts <= 1:
        result.attempts = 1
        return await _with_timeout(tool, validated)
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(retry.max_attempts),
        wait=wait_exponential(multiplier=retry.wait_s, max=retry.max_wait_s),
        retry=retry_if_exception_type(retry.retry_on),
        reraise=True,
    ):
        with attempt:
            n = attempt.retry_state.attempt_number
            result.attempts = ctx.attempt = n
            if n > 1:
                stats.retries += 1
            return await _with_timeout(tool, validated)
    raise AssertionError("unreachable")  # pragma: no cover


async def _with_timeout(tool: Tool, validated: BaseModel) -> Any:
    if tool.timeout_s is None:
        return await tool._invoke(validated)
    try:
        async with asyncio.timeout(tool.timeout_s) as scope:
            return await tool._invoke(validated)
    except TimeoutError as exc:
        if scope.expired():
            raise ToolTimeout(f"tool {tool.name!r} timed out after {tool.timeout_s:g}s") from exc
        raise


def merge_hooks(outer: tuple[ToolHook, ...], own: tuple[ToolHook, ...]) -> tuple[ToolHook, ...]:
    if not own:
        return outer
    return outer + tuple(h for h in own if all(h is not o for o in outer))


def parse_arguments(
    arguments: str | Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if arguments is None:
        return {}, None
    if isinstance(arguments, Mapping):
        return dict(arguments), None
    text = arguments.strip()
    if not text:
        return {}, None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, {
            "argument": "(arguments)",
            "expected": f"a JSON object ({exc.msg} at char {exc.pos})",
            "got": text[:80],
        }
    if not isinstance(parsed, dict):
        return {}, {
            "argument": "(arguments)",
            "expected": "a JSON object of named arguments",
            "got": type(parsed).__name__,
        }
    return parsed, None


def failure_result(call_id: str, tool: str, status: Any, error: str) -> ToolResult:
    return ToolResult(call_id=call_id, tool=tool, status=status, error=error, content=f"Error: {error}")


def invalid_result(tool: Tool, call_id: str, issues: list[dict[str, Any]]) -> ToolResult:
    lines = [f"- argument `{i['argument']}`: {i['expected']} (got {i['got']})" for i in issues]
    schema = json.dumps(tool.parameters, ensure_ascii=False, separators=(",", ":"))
    if len(schema) > 1500:
        schema = schema[:1500] + "..."
    error = f"invalid arguments for tool {tool.name!r}:\n" + "\n".join(lines)
    content = (
        f"Error: {error}\nThe tool's parameters schema is {schema}. Call it again with corrected arguments."
    )
    return ToolResult(
        call_id=call_id, tool=tool.name, status="invalid_args", error=error, content=content, issues=issues
    )


def _describe_failure(result: ToolResult, exc: Exception) -> None:
    if isinstance(exc, ToolTimeout):
        result.status, result.error = "timeout", str(exc)
    elif isinstance(exc, ToolUnbound):
        result.status, result.error = "unbound", str(exc)
    else:
        result.status, result.error = "error", f"tool {result.tool!r} failed: {type(exc).__name__}: {exc}"
    result.output = None
    result.content = f"Error: {result.error}"


def _block(result: ToolResult, hook: ToolHook, verdict: HookVerdict, *, withheld: bool = False) -> None:
    what = "result of the call to" if withheld else "call to"
    result.status, result.output = "blocked", None
    result.error = f"{hook.hook_name}: {verdict.reason}"
    result.content = f"Blocked: the {what} {result.tool!r} was blocked by {hook.hook_name}: {verdict.reason}"
