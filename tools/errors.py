"""Errors of the tool layer.

Most tool failures are *not* raised: `Toolset.call` turns them into a `ToolResult`
with `is_error=True` and a message the model can act on. These exceptions are for
programming errors (bad definitions, calling a tool outside a toolset) and for the
cases a caller asked to be raised (`ToolResult.raise_for_error()`).
"""

from __future__ import annotations

from typing import Any


class ToolError(Exception):
    """Base class of every tool-layer error."""


class ToolDefinitionError(ToolError):
    """A tool cannot be built: unsupported parameter type, bad schema, duplicate name."""


class ToolDirectCallError(ToolError, TypeError):
    """A `Tool` was called directly; tool bodies run only through `Toolset.call` (hooks, audit)."""


class ToolNotFound(ToolError):
    """The model named a tool the toolset does not have."""


class ToolArgumentError(ToolError):
    """Arguments did not validate against the tool's schema.

    Attributes:
        issues: one dict per problem: `argument` (dotted path), `expected`, `got`.
    """

    def __init__(self, tool: str, issues: list[dict[str, Any]], message: str) -> None:
        super().__init__(message)
        self.tool = tool
        self.issues = issues


class ToolUnbound(ToolError):
    """A declared tool (imported from an OpenAI spec) has no implementation bound to it."""


class ToolBlocked(ToolError):
    """A hook blocked the call; `reason` says why."""

    def __init__(self, tool: str, reason: str) -> None:
        super().__init__(f"tool {tool!r} was blocked: {reason}")
        self.tool = tool
        self.reason = reason


class ToolTimeout(ToolError):
    """The tool body ran past its `timeout_s`."""


class ToolExecutionError(ToolError):
    """The tool body raised; the original exception is `__cause__`."""


class ApprovalUnavailable(ToolError):
    """A hook asked for a human, but there is no graph to interrupt and no approver callback.

    Fix: run the call inside a `phalanx.agents` graph node, or pass
    `Toolset(..., approver=callback)`.
    """
