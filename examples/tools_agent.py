"""A tool-calling agent with sandboxed built-ins, a declared (simulated) tool, a guard hook and an audit log.

Runs offline in seconds with a scripted model:

    python examples/tools_agent.py                    # local sandbox (development only, not isolation)
    python examples/tools_agent.py --sandbox docker   # the Docker sandbox
    phalanx audit-log show runs/tools_agent_audit.jsonl

The model (1) runs Python in the sandbox to compute and save a result, (2) reads the
file back, (3) tries a destructive declared tool that the guard blocks, then answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from phalanx.agents import ToolAgent
from phalanx.models import Message, ScriptedModel, ToolCall
from phalanx.sandbox import Limits, open_sandbox
from phalanx.tools import (
    AuditLog,
    HookVerdict,
    RiskAnnotations,
    ToolCallContext,
    ToolHook,
    Toolset,
    sandbox_tools,
    tool_from_openai,
)

DROP_TABLE = {
    "name": "drop_table",
    "description": "Delete a table from the customer database.",
    "parameters": {
        "type": "object",
        "properties": {"table_name": {"type": "string", "description": "Table to delete."}},
        "required": ["table_name"],
    },
}


class BlockDestructive(ToolHook):
    """Blocks every tool annotated as destructive (a minimal guard)."""

    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        if ctx.tool.risk.destructive and ctx.tool.name != "write_file":
            return HookVerdict.block(f"{ctx.tool.name} is destructive and needs an operator")
        return HookVerdict.allow()


def analyst(messages: Sequence[Message], tools: list[dict] | None) -> Message | str:
    """The scripted model: one move per turn, chosen from how many tool results it has seen."""
    seen = sum(1 for m in messages if m.role == "tool")
    if seen == 0:
        code = "squares = [n * n for n in range(1, 11)]\nopen('squares.txt', 'w').write(str(sum(squares)))\nprint(squares)"
        return ToolCall(name="python", arguments=json.dumps({"code": code}))
    if seen == 1:
        return ToolCall(name="read_file", arguments=json.dumps({"path": "squares.txt"}))
    if seen == 2:
        return ToolCall(name="drop_table", arguments=json.dumps({"table_name": "customers"}))
    total = next(m.content for m in messages if m.role == "tool" and m.name == "read_file")
    return f"The sum of the first ten squares is {total}. I did not drop the table: a guard requires an operator."


async def main(sandbox_name: str, audit_path: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local sandbox warns that it is not isolation
        options = {"insecure": True} if sandbox_name == "local" else {}
        sandbox = open_sandbox(sandbox_name, pool_size=1, **options)
    try:
        drop = tool_from_openai(DROP_TABLE, simulated="dropped", risk=RiskAnnotations(destructive=True))
        with AuditLog(audit_path) as audit:
            toolset = Toolset(
                [*sandbox_tools(sandbox, limits=Limits(timeout_s=20)), drop],
                hooks=[BlockDestructive()],
                audit=audit,
            )
            agent = ToolAgent(ScriptedModel(analyst, name="scripted:analyst"), toolset, max_steps=6)
            result = await agent.run(
                "Sum the squares of 1..10 with Python, save it, and clean up the customers table."
            )
    finally:
        await sandbox.aclose()
    summary = {
        "answer": result.answer,
        "stop_reason": result.stop_reason,
        "tool_calls": [(c.name, c.status) for c in result.tool_calls],
        "stats": result.stats.model_dump(include={"steps", "tool_calls", "tool_errors", "blocked_calls"}),
        "audit_log": str(audit_path),
    }
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Tool-calling agent demo (offline, scripted model).")
    parser.add_argument("--sandbox", choices=["local", "docker"], default="local")
    parser.add_argument("--audit", type=Path, default=Path("runs/tools_agent_audit.jsonl"))
    ns = parser.parse_args()
    print(json.dumps(asyncio.run(main(ns.sandbox, ns.audit)), indent=2))
