"""The real model as a tool-calling agent: arithmetic it must compute with the sandboxed `python` tool.

SmolLM2-135M-Instruct (pulled into the model store by `.ci/setup`, or by
`phalanx models pull smollm2-135m-instruct`) answers questions whose numbers are too large
to multiply in its head. The agent speaks phalanx's JSON tool protocol; the `hf:` backend
constrains every reply to that protocol's schema, so each reply is a valid call of the
`python` tool or a final answer. Programs run in the Docker sandbox (`--sandbox local` for a
development machine without Docker: not isolation).

    python examples/real_model_tools.py                 # 6 questions, prints one JSON summary
    python examples/real_model_tools.py --limit 2 --sandbox local
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import warnings

from phalanx.agents import ToolAgent
from phalanx.models import GenerationConfig, load_model
from phalanx.sandbox import Limits, open_sandbox
from phalanx.tools import Toolset, sandbox_tools

QUESTIONS = [
    ("What is 48271 multiplied by 937?", 48271 * 937),
    ("What is 12345 multiplied by 6789?", 12345 * 6789),
    ("What is 2 to the power of 31?", 2**31),
    ("What is the sum of all integers from 1 to 4321?", sum(range(1, 4322))),
    ("What is 987654 minus 123457?", 987654 - 123457),
    ("What is 7 to the power of 9?", 7**9),
]

SYSTEM = "You are a careful assistant. Compute with the python tool (print the result), then answer with the number."


async def main(model_spec: str, sandbox_name: str, limit: int) -> dict:
    model = load_model(model_spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local sandbox warns that it is not isolation
        options = {"insecure": True} if sandbox_name == "local" else {}
        sandbox = open_sandbox(sandbox_name, pool_size=2, **options)
    started = time.perf_counter()
    try:
        tools = Toolset(sandbox_tools(sandbox, limits=Limits(timeout_s=20), include=["python"]))
        agent = ToolAgent(
            model, tools, system_prompt=SYSTEM, max_steps=4, config=GenerationConfig(max_new_tokens=160)
        )
        questions = QUESTIONS[:limit]
        results = await asyncio.gather(*(agent.run(q) for q, _ in questions))
    finally:
        await sandbox.aclose()
        await model.aclose()
    rows = []
    for (question, value), result in zip(questions, results, strict=True):
        digits = "".join(ch for ch in (result.answer or "") if ch.isdigit() or ch == " ")
        rows.append(
            {
                "question": question,
                "answer": result.answer,
                "correct": str(value) in digits.split()
                or str(value) in (result.answer or "").replace(",", ""),
                "stop_reason": result.stop_reason,
                "calls": [(c.name, c.status) for c in result.tool_calls],
                "repairs": result.stats.repairs,
            }
        )
    return {
        "model": model_spec,
        "questions": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "used_python": sum(any(name == "python" for name, _ in r["calls"]) for r in rows),
        "re_asks": sum(r["repairs"] for r in rows),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="The real model as a tool agent with the sandboxed python tool."
    )
    parser.add_argument("--model", default="hf:smollm2-135m-instruct")
    parser.add_argument("--sandbox", choices=["local", "docker"], default="docker")
    parser.add_argument("--limit", type=int, default=len(QUESTIONS))
    ns = parser.parse_args()
    print(json.dumps(asyncio.run(main(ns.model, ns.sandbox, ns.limit)), indent=2))
