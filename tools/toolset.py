"""`Toolset`: a set of tools and THE one call path every tool call takes.

`Toolset.call` parses and validates the arguments (a bad call becomes a structured
message for the model, never an exception into the graph), runs the hook chain's
`before_call`, runs the body with its timeout and retries, runs `after_call` or
`on_error`, and appends one audit record. Tool bodies are private to `Tool`, so
there is no public way around this path (policies wrap it, as pydantic-ai wraps
toolsets for approval; see docs/STYLE "Policies wrap the one call path").

Nested calls (a tool whose body runs an agent with its own toolset) inherit the
outer call's hooks through a context variable, so guards also see inner calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from phalanx.models.types import Message, ToolCall
from phalanx.tools.audit import AuditLog
from phalanx.tools.errors import ApprovalUnavailable, ToolDefinitionError, ToolTimeout, ToolUnbound
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


def _new_call_id() -> str:
    # Cheaper than uuid4 on the hot path; the random per-process prefix keeps ids unique across runs.
    return f"{_ID_PREFIX}{next(_ids):012x}"


# (hooks, audit, approver) of the call currently running a tool body, if any.
_OUTER: contextvars.ContextVar[tuple[tuple[ToolHook, ...], AuditLog | None, Approver | None] | None] = (
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


class Toolset:
    """Tools a model may call, with the hooks and audit log that apply to every call.

    Args:
        tools: tools (built with `@tool` or imported from OpenAI specs).
        hooks: ordered hook chain; the first `block` wins.
        audit: an `AuditLog` (or a path for one) receiving one record per call.
        approver: answers `ask_human` verdicts outside a graph (see `resolve_ask_human`).
        metadata: added to every call's context (and audit record).
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        hooks: Sequence[ToolHook] = (),
        audit: AuditLog | str | None = None,
        approver: Approver | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self.hooks: tuple[ToolHook, ...] = tuple(hooks)
        for hook in self.hooks:
            if not isinstance(hook, ToolHook):
                raise TypeError(f"hooks must be ToolHook instances, got {type(hook).__name__}")
        self.audit = AuditLog(audit) if isinstance(audit, str) else audit
        self.approver = approver
        self.metadata = dict(metadata or {})
        self.stats = CallStats()
        self.add(*tools)

    # ---- registry -------------------------------------------------------------------
    def add(self, *tools: Tool) -> Toolset:
        """Register tools (names must be unique)."""
        for t in tools:
            if not isinstance(t, Tool):
                raise ToolDefinitionError(
                    f"expected a Tool (use @tool or tool_from_openai), got {type(t).__name__}"
                )
            if t.name in self._tools:
                raise ToolDefinitionError(f"a tool named {t.name!r} is already in this toolset")
            self._tools[t.name] = t
        return self

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def openai_schemas(self) -> list[dict[str, Any]]:
        """All tools as OpenAI tool specs (what `ChatModel.chat(tools=...)` takes)."""
        return [t.to_openai() for t in self._tools.values()]

    def with_hooks(self, *hooks: ToolHook, audit: AuditLog | None = None) -> Toolset:
        """A toolset with the same tools and these hooks appended (stats start at zero)."""
        return Toolset(
            self._tools.values(),
            hooks=(*self.hooks, *hooks),
            audit=audit or self.audit,
            approver=self.approver,
            metadata=self.metadata,
        )

    # ---- the call path --------------------------------------------------------------
    async def call(
        self,
        name: str | ToolCall,
        arguments: str | Mapping[str, Any] | None = None,
        *,
        call_id: str | None = None,
        messages: Sequence[Message] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        """Run one tool call through validation, hooks, the body and the audit log.

        Never raises for a failing call: the returned `ToolResult` has a status and
        a `content` message for the model. Raises only for the runtime's interrupt
        (human approval inside a graph), `ApprovalUnavailable`, and cancellation.

        Args:
            name: tool name, or a model's `ToolCall` (then `arguments`/`call_id` come from it).
            arguments: JSON text (as models produce it) or a dict.
            call_id: id of the call (a fresh one when None).
            messages: the conversation so far, for hooks that judge context.
            metadata: extra context for hooks and the audit record.
        """
        if isinstance(name, ToolCall):
            call_id = call_id or name.id
            arguments = name.arguments if arguments is None else arguments
            name = name.name
        call_id = call_id or _new_call_id()
        started = time.time()
        t0 = time.perf_counter()
        outer = _OUTER.get()
        hooks = self.hooks if outer is None else _merge(outer[0], self.hooks)
        audit = self.audit or (outer[1] if outer else None)
        approver = self.approver or (outer[2] if outer else None)
        meta = {**self.metadata, **metadata} if metadata else dict(self.metadata)

        raw_args: Any = arguments
        tool = self._tools.get(name)
        if tool is None:
            available = ", ".join(self._tools) or "(none)"
            result = _failure(
                call_id,
                name,
                "unknown_tool",
                f"there is no tool named {name!r}; available tools: {available}",
            )
        else:
            parsed, problem = _parse_arguments(arguments)
            if problem is not None:
                result = _invalid(tool, call_id, [problem])
            else:
                raw_args = parsed
                try:
                    validated = tool.args_model.model_validate(parsed)
                except ValidationError as exc:
                    result = _invalid(tool, call_id, describe_issues(exc))
                else:
                    ctx = ToolCallContext(
                        tool=tool,
                        args=parsed,
                        call_id=call_id,
                        messages=list(messages) if messages is not None else None,
                        metadata=meta,
                    )
                    result = await self._run(ctx, validated, hooks, audit, approver)
        result.duration_s = time.perf_counter() - t0
        self.stats.count(result)
        if audit is not None:
            audit.record_call(result, raw_args=raw_args, started=started, metadata=metadata)
        return result

    async def call_many(
        self,
        calls: Sequence[ToolCall],
        *,
        messages: Sequence[Message] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[ToolResult]:
        """Run several calls concurrently (each through `call`); results keep the calls' order."""
        return list(
            await asyncio.gather(*(self.call(c, messages=messages, metadata=metadata) for c in calls))
        )

    def call_sync(
        self, name: str | ToolCall, arguments: str | Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ToolResult:
        """`call` for synchronous code (no running event loop in this thread)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.call(name, arguments, **kwargs))
        raise RuntimeError(
            "Toolset.call_sync was used inside a running event loop; use `await toolset.call(...)`"
        )

    async def _run(
        self,
        ctx: ToolCallContext,
        validated: BaseModel,
        hooks: tuple[ToolHook, ...],
        audit: AuditLog | None,
        approver: Approver | None,
    ) -> ToolResult:
        tool = ctx.tool
        try:
            validated = await self._before(ctx, validated, hooks, approver)
        except _Stop as stop:
            return stop.result
        result = ToolResult(
            call_id=ctx.call_id, tool=tool.name, status="ok", args=ctx.args, verdicts=ctx.verdicts
        )
        token = _OUTER.set((hooks, audit, approver))
        try:
            result.output = await self._body(ctx, validated, result)
            result.content = render_output(result.output)
        except Exception as exc:
            if _bubbles(exc):
                raise
            _describe_failure(result, exc)
            for hook in hooks:
                verdict = await self._ask(hook, "on_error", ctx, hook.on_error(ctx, exc), approver)
                if verdict.action == "block":
                    _block(result, hook, verdict)
                    break
                if verdict.action == "rewrite" and verdict.has_result:
                    result.status, result.error, result.output = "ok", None, verdict.result
                    result.content = render_output(verdict.result)
                    break
        finally:
            _OUTER.reset(token)
        if result.status == "ok":
            for hook in hooks:
                verdict = await self._ask(hook, "after_call", ctx, hook.after_call(ctx, result), approver)
                if verdict.action == "block":
                    _block(result, hook, verdict, withheld=True)
                    break
                if verdict.action == "rewrite" and verdict.has_result:
                    result.output = verdict.result
                    result.content = render_output(verdict.result)
        return result

    async def _before(
        self,
        ctx: ToolCallContext,
        validated: BaseModel,
        hooks: tuple[ToolHook, ...],
        approver: Approver | None,
    ) -> BaseModel:
        for hook in hooks:
            verdict = await self._ask(hook, "before_call", ctx, hook.before_call(ctx), approver)
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
                result = _invalid(ctx.tool, ctx.call_id, describe_issues(exc))
                result.error = (
                    f"hook {hook.hook_name} rewrote the arguments into invalid ones: {result.error}"
                )
                result.status, result.verdicts, result.content = (
                    "error",
                    ctx.verdicts,
                    f"Error: {result.error}",
                )
                raise _Stop(result) from exc
            ctx.args = dict(verdict.args or {})
        return validated

    async def _ask(
        self, hook: ToolHook, stage: str, ctx: ToolCallContext, pending: Any, approver: Approver | None
    ) -> HookVerdict:
        """Await one hook stage; failures and bad verdicts fail closed (block)."""
        try:
            verdict = await pending
            if verdict is _ALLOW:  # the common case, kept short (see benchmarks/tool_overhead.py)
                ctx.verdicts.append(VerdictRecord(hook.hook_name, stage, "allow"))  # type: ignore[arg-type]
                return verdict
            verdict = await self._check(hook, stage, ctx, verdict, approver)
        except Exception as exc:
            if _bubbles(exc) or isinstance(exc, ApprovalUnavailable):
                raise
            verdict = HookVerdict.block(
                f"hook {hook.hook_name} failed ({type(exc).__name__}: {exc}); blocked to fail safe"
            )
        ctx.verdicts.append(VerdictRecord(hook.hook_name, stage, verdict.action, verdict.reason))  # type: ignore[arg-type]
        return verdict

    async def _check(
        self, hook: ToolHook, stage: str, ctx: ToolCallContext, verdict: Any, approver: Approver | None
    ) -> HookVerdict:
        if not isinstance(verdict, HookVerdict):
            raise TypeError(f"{stage} returned {type(verdict).__name__}, not a HookVerdict")
        if verdict.action == "rewrite" and verdict.args is not None and stage != "before_call":
            raise ValueError(f"{stage} may only rewrite the result, not the arguments")
        if verdict.action == "ask_human":
            ctx.verdicts.append(VerdictRecord(hook.hook_name, stage, "ask_human", verdict.question))  # type: ignore[arg-type]
            verdict = await resolve_ask_human(verdict.question or "", ctx, approver)
        return verdict

    async def _body(self, ctx: ToolCallContext, validated: BaseModel, result: ToolResult) -> Any:
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
                    self.stats.retries += 1
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


def _merge(outer: tuple[ToolHook, ...], own: tuple[ToolHook, ...]) -> tuple[ToolHook, ...]:
    if not own:
        return outer
    return outer + tuple(h for h in own if all(h is not o for o in outer))


def _parse_arguments(
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


def _failure(call_id: str, tool: str, status: Any, error: str) -> ToolResult:
    return ToolResult(call_id=call_id, tool=tool, status=status, error=error, content=f"Error: {error}")


def _invalid(tool: Tool, call_id: str, issues: list[dict[str, Any]]) -> ToolResult:
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
