"""`Toolset`: the tools a model may call, with the hooks and audit log that apply to every call.

`Toolset.call` is THE call path: it parses and validates the arguments (a bad call
becomes a structured message for the model, never an exception into the graph),
then `phalanx.tools.executor.run_chain` runs the hooks, the body and the audit.
Tool bodies are private to `Tool`, so there is no public way around this path
(policies wrap it, as pydantic-ai wraps toolsets for approval).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from phalanx.models.types import Message, ToolCall
from phalanx.tools.audit import AuditLog
from phalanx.tools.errors import ToolDefinitionError
from phalanx.tools.executor import (
    OUTER_CALL,
    failure_result,
    invalid_result,
    merge_hooks,
    new_call_id,
    parse_arguments,
    run_chain,
)
from phalanx.tools.hooks import Approver, ToolHook
from phalanx.tools.schema import describe_issues
from phalanx.tools.tool import Tool
from phalanx.tools.types import CallStats, ToolCallContext, ToolResult


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
        audit: AuditLog | str | os.PathLike[str] | None = None,
        approver: Approver | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self.hooks: tuple[ToolHook, ...] = tuple(hooks)
        for hook in self.hooks:
            if not isinstance(hook, ToolHook):
                raise TypeError(f"hooks must be ToolHook instances, got {type(hook).__name__}")
        self.audit = AuditLog(audit) if isinstance(audit, str | os.PathLike) else audit
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
        call_id = call_id or new_call_id()
        started = time.time()
        t0 = time.perf_counter()
        outer = OUTER_CALL.get()
        hooks = self.hooks if outer is None else merge_hooks(outer[0], self.hooks)
        audit = self.audit or (outer[1] if outer else None)
        approver = self.approver or (outer[2] if outer else None)
        meta = {**self.metadata, **metadata} if metadata else dict(self.metadata)

        raw_args: Any = arguments
        tool = self._tools.get(name)
        if tool is None:
            available = ", ".join(self._tools) or "(none)"
            result = failure_result(
                call_id,
                name,
                "unknown_tool",
                f"there is no tool named {name!r}; available tools: {available}",
            )
        else:
            parsed, problem = parse_arguments(arguments)
            if problem is not None:
                result = invalid_result(tool, call_id, [problem])
            else:
                raw_args = parsed
                try:
                    validated = tool.args_model.model_validate(parsed)
                except ValidationError as exc:
                    result = invalid_result(tool, call_id, describe_issues(exc))
                else:
                    ctx = ToolCallContext(
                        tool=tool,
                        args=parsed,
                        call_id=call_id,
                        messages=list(messages) if messages is not None else None,
                        metadata=meta,
                    )
                    result = await run_chain(ctx, validated, hooks, audit, approver, self.stats)
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
