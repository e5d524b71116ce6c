"""Per-call overhead of the phalanx tool call path over calling the function directly.

The phalanx path is `Toolset.call` with JSON-text arguments (as a model sends
them): parse + pydantic validation, 3 no-op hooks (before and after), and a
buffered audit-log record. Prints one JSON line: `direct_us`, `phalanx_us`,
`overhead_us` per call (best of `--repeats` runs of `--calls` calls each).
Target: overhead_us <= 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from phalanx.tools import AuditLog, HookVerdict, ToolCallContext, ToolHook, ToolResult, Toolset, tool


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class NoOp(ToolHook):
    """Allows everything; the stages are overridden so each one really runs."""

    async def before_call(self, ctx: ToolCallContext) -> HookVerdict:
        return HookVerdict.allow()

    async def after_call(self, ctx: ToolCallContext, result: ToolResult) -> HookVerdict:
        return HookVerdict.allow()


async def _time_direct(n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        await add(a=i, b=1)
    return (time.perf_counter() - t0) / n


async def _time_phalanx(ts: Toolset, n: int) -> float:
    args = [json.dumps({"a": i, "b": 1}) for i in range(n)]
    t0 = time.perf_counter()
    for text in args:
        await ts.call("add", text)
    return (time.perf_counter() - t0) / n


async def main(calls: int, repeats: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        audit = AuditLog(Path(tmp) / "audit.jsonl")
        ts = Toolset([tool(add)], hooks=[NoOp(), NoOp(), NoOp()], audit=audit)
        await _time_phalanx(ts, 200)  # warm-up (validator build, file open)
        direct = min([await _time_direct(calls) for _ in range(repeats)])
        phalanx = min([await _time_phalanx(ts, calls) for _ in range(repeats)])
        audit.close()
        lines = sum(1 for _ in (Path(tmp) / "audit.jsonl").open())
    expected = 200 + calls * repeats
    if lines != expected or ts.stats.ok != expected:
        raise SystemExit(f"audit log has {lines} lines and {ts.stats.ok} ok calls; expected {expected}")
    direct_us, phalanx_us = direct * 1e6, phalanx * 1e6
    return {
        "benchmark": "tool_overhead",
        "calls": calls,
        "repeats": repeats,
        "hooks": 3,
        "direct_us": round(direct_us, 3),
        "phalanx_us": round(phalanx_us, 3),
        "overhead_us": round(phalanx_us - direct_us, 3),
        "ratio": round(phalanx_us / direct_us, 1),
        "target_overhead_us": 200,
        "meets_target": phalanx_us - direct_us <= 200,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    ns = parser.parse_args()
    print(json.dumps(asyncio.run(main(ns.calls, ns.repeats))))
