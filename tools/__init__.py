"""phalanx.tools: typed tools, OpenAI-function import/export, hooks, audit log, sandboxed built-ins,
and the one reader of prompt and record files (`read_prompts`, `iter_records`).

Every tool call goes through `Toolset.call`: validate -> hooks before -> body (timeout,
retry) -> hooks after / on error -> audit. `Tool` objects cannot be called directly.
"""

from phalanx.tools.audit import (
    AuditLog,
    AuditLogSummary,
    AuditRecord,
    filter_audit_records,
    iter_audit_log,
    read_audit_log,
    summarize_audit_log,
)
from phalanx.tools.builtins import BUILTIN_NAMES, Workspace, sandbox_tools
from phalanx.tools.errors import (
    ApprovalUnavailable,
    ToolArgumentError,
    ToolBlocked,
    ToolDefinitionError,
    ToolDirectCallError,
    ToolError,
    ToolExecutionError,
    ToolNotFound,
    ToolTimeout,
    ToolUnbound,
)
from phalanx.tools.hooks import Approver, FunctionHook, ToolHook, TurnGuard, resolve_ask_human
from phalanx.tools.openai_format import (
    load_openai_tools,
    tool_from_openai,
    tools_from_openai,
    tools_to_openai,
)
from phalanx.tools.records import FileRecord, Prompt, RecordFileError, iter_records, read_prompts
from phalanx.tools.tool import Tool, tool
from phalanx.tools.toolset import Toolset
from phalanx.tools.types import (
    CallStats,
    HookVerdict,
    RetryConfig,
    RiskAnnotations,
    ToolCallContext,
    ToolResult,
    TurnContext,
    VerdictRecord,
)

__all__ = [
    "BUILTIN_NAMES",
    "Workspace",
    "sandbox_tools",
    "ApprovalUnavailable",
    "Approver",
    "AuditLog",
    "AuditLogSummary",
    "AuditRecord",
    "CallStats",
    "FileRecord",
    "FunctionHook",
    "HookVerdict",
    "Prompt",
    "RecordFileError",
    "RetryConfig",
    "RiskAnnotations",
    "Tool",
    "ToolArgumentError",
    "ToolBlocked",
    "ToolCallContext",
    "ToolDefinitionError",
    "ToolDirectCallError",
    "ToolError",
    "ToolExecutionError",
    "ToolHook",
    "ToolNotFound",
    "ToolResult",
    "ToolTimeout",
    "ToolUnbound",
    "Toolset",
    "TurnContext",
    "TurnGuard",
    "VerdictRecord",
    "filter_audit_records",
    "iter_audit_log",
    "iter_records",
    "load_openai_tools",
    "read_audit_log",
    "read_prompts",
    "resolve_ask_human",
    "summarize_audit_log",
    "tool",
    "tool_from_openai",
    "tools_from_openai",
    "tools_to_openai",
]
