"""Replaying one ToolSword record through the tool-calling agent with simulated tools.

Declared tools are bound to simulated implementations: output-stage records return their
recorded function result for the recorded call, every other call gets a neutral stub
result and is logged. For output-stage records the agent's first move is the recorded
function call (methods.md Part B: the model under test writes the final turn after it),
so the call still runs through the toolset's hooks and the output guards see its result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from phalanx.models import ChatModel, ChatResponse, GenerationConfig, JsonMode, Message, ToolCall
from phalanx.policies.toolsword_data import ToolSwordRecord
from phalanx.tools import Tool, tool_from_openai

STUB_RESULT = {"status": "success", "result": "The request was processed."}
"""What a simulated tool answers when the record has no recorded output for the call."""


def repair_arguments(text: str) -> dict[str, Any]:
    """Recorded arguments as a dict (upstream has unescaped quotes in a few; one-key objects are recovered)."""
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    except ValueError:
        m = re.fullmatch(r'\s*\{\s*"(\w+)"\s*:\s*"(.*)"\s*\}\s*', text, re.DOTALL)
        return {m.group(1): m.group(2)} if m else {}


def _schema_from_args(args: dict[str, Any]) -> dict[str, Any]:
    kinds = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
    return {
        "type": "object",
        "properties": {k: {"type": kinds.get(type(v), "string")} for k, v in args.items()},
        "required": [],
    }


def build_tools(record: ToolSwordRecord, call_log: list[dict[str, Any]]) -> list[Tool]:
    """Simulated tools of `record`; each call is appended to `call_log`."""
    recorded = record.recorded_call
    recorded_args = repair_arguments(recorded["arguments"]) if recorded else {}
    specs = [dict(t.get("function", t)) for t in record.tools]
    if recorded and recorded["name"] not in {s["name"] for s in specs}:
        specs.append(
            {
                "name": recorded["name"],
                "description": f"{recorded['name']} (recorded tool)",
                "parameters": _schema_from_args(recorded_args),
            }
        )
    tools = []
    for spec in specs:
        name = spec["name"]

        def simulate(args: dict[str, Any], _name: str = name) -> Any:
            out: Any = STUB_RESULT
            if recorded and _name == recorded["name"]:
                out = record.recorded_result
            call_log.append({"tool": _name, "arguments": args, "simulated": out is not STUB_RESULT})
            return out

        tool = tool_from_openai(spec, simulated=simulate)
        if recorded and name == recorded["name"]:
            try:
                tool.args_model.model_validate(recorded_args)
            except Exception:
                # The recorded call does not fit its own declared schema (upstream data):
                # declare the tool with the recorded arguments' shape so the replay runs it.
                spec = {**spec, "parameters": _schema_from_args(recorded_args)}
                tool = tool_from_openai(spec, simulated=simulate)
        tools.append(tool)
    return tools


class PrefilledModel:
    """Answers its first call with a fixed tool call, then delegates to the model under test."""

    def __init__(self, inner: ChatModel, first: ToolCall) -> None:
        self.inner = inner
        self.first: ToolCall | None = first
        self.name = getattr(inner, "name", "model")
        self.supports_tools = bool(getattr(inner, "supports_tools", False))

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token=None,
    ) -> ChatResponse:
        if self.first is not None:
            call, self.first = self.first, None
            if tools is None and json_mode is not False:  # the agent's JSON text protocol
                text = json.dumps(
                    {"tool_calls": [{"name": call.name, "arguments": json.loads(call.arguments)}]}
                )
                return ChatResponse(message=Message.assistant(text), model=self.name)
            return ChatResponse(
                message=Message.assistant(tool_calls=[call]), finish_reason="tool_calls", model=self.name
            )
        return await self.inner.chat(
            messages, tools=tools, config=config, json_mode=json_mode, on_token=on_token
        )

    async def aclose(self) -> None:
        return None


def first_move(record: ToolSwordRecord) -> ToolCall | None:
    """The recorded function call of an output-stage record (arguments repaired to valid JSON)."""
    call = record.recorded_call
    if not call:
        return None
    return ToolCall(name=call["name"], arguments=json.dumps(repair_arguments(call["arguments"])))
