"""Per-tool-call latency of the default ToolSword policy stack (before_call + after_call guards).

Workload: the recorded tool calls and results of ToolSword's output-stage records (HF, EC,
confict) from the data shipped with phalanx. Tool descriptions and seed prototypes are
embedded once (warm-up); each timed call runs the execution guards on the call and the output
guards on its result, as `PolicyToolHook` does.
Usage: python benchmarks/guard_latency.py [POLICY] (default, strict or a policy file).
Prints one JSON line: p50_ms, p95_ms, mean_ms, n, embed_one_ms (one sentence embedding, the
reference cost) and p50_over_embed (ratio), per tool call; and input_p50_ms / input_p95_ms per user
turn of the same records through the input stage (input_turns distinct turns).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time


def _workload() -> list[tuple[dict, dict, str, str]]:
    from phalanx.agents.audit.replay import repair_arguments
    from phalanx.policies import load_toolsword

    out = []
    for r in load_toolsword(None, ["HF", "EC", "confict"]):
        call = r.recorded_call
        spec = next(
            (t for t in r.tools if t["name"] == call["name"]), {"name": call["name"], "description": ""}
        )
        out.append((spec, repair_arguments(call["arguments"]), r.recorded_result, r.query))
    return out


async def main() -> None:
    from phalanx.policies import PolicyStack, SentenceEmbedder, ToolSpec

    policy = sys.argv[1] if len(sys.argv) > 1 else "default"
    stack = PolicyStack(policy)
    work = _workload()
    specs = [ToolSpec.from_openai(s) for s, *_ in work]
    # The input stage runs once per user turn, not per tool call: timed apart on the records' user
    # turns (rule, seed and classifier guards), first, so that no turn's embedding is cached yet;
    # one warm-up turn loads the model, the prototypes and the classifier.
    await stack.screen_input("warm up turn")
    turn_times = []
    for query in dict.fromkeys(q for *_, q in work):
        t = time.perf_counter()
        await stack.screen_input(query)
        turn_times.append((time.perf_counter() - t) * 1000)
    turn_times.sort()

    # Warm-up: model load, prototypes, and every distinct tool description (cached afterwards).
    for spec, (_, args, _, query) in list(zip(specs, work, strict=True))[:3]:
        await stack.check_call(spec, args, query=query)
        await stack.check_result(spec, args, "warm up text.", query=query)
    for spec in {s.name: s for s in specs}.values():
        await stack.check_call(spec, {}, query="")
    emb = SentenceEmbedder.shared()
    t = time.perf_counter()
    for i in range(10):
        emb.embed([f"reference sentence number {i} for timing"])
    embed_one = (time.perf_counter() - t) / 10 * 1000

    times = []
    for spec, (_, args, result, query) in zip(specs, work, strict=True):
        t = time.perf_counter()
        await stack.check_call(spec, args, query=query)
        await stack.check_result(spec, args, result, query=query)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(
        json.dumps(
            {
                "benchmark": "guard_latency",
                "policy": policy,
                "n": len(times),
                "p50_ms": round(p50, 2),
                "p95_ms": round(p95, 2),
                "mean_ms": round(statistics.mean(times), 2),
                "embed_one_ms": round(embed_one, 2),
                "p50_over_embed": round(p50 / embed_one, 2),
                "input_turns": len(turn_times),
                "input_p50_ms": round(statistics.median(turn_times), 2),
                "input_p95_ms": round(turn_times[min(len(turn_times) - 1, int(0.95 * len(turn_times)))], 2),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
