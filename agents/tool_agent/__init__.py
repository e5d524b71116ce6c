"""The tool-calling agent: a ReAct / function-calling loop over any `ChatModel` and a `Toolset`."""

from phalanx.agents.tool_agent.agent import DEFAULT_SYSTEM_PROMPT, ToolAgent
from phalanx.agents.tool_agent.protocol import PROTOCOL_INSTRUCTIONS, parse_reply, protocol_system_prompt
from phalanx.agents.tool_agent.types import (
    AgentResult,
    AgentStats,
    StopReason,
    ToolCallRecord,
    TurnContext,
    TurnGuard,
)

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "PROTOCOL_INSTRUCTIONS",
    "AgentResult",
    "AgentStats",
    "StopReason",
    "ToolAgent",
    "ToolCallRecord",
    "TurnContext",
    "TurnGuard",
    "parse_reply",
    "protocol_system_prompt",
]
