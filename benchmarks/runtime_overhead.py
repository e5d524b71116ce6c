"""Runtime overhead of phalanx's graph layer over raw LangGraph.

The same 200-worker fan-out/fan-in graph (plan -> 200 parallel workers -> join) over the
same pydantic state is built once with `phalanx.agents.GraphBuilder` and once with
LangGraph's `StateGraph`, both with an in-memory checkpointer and `durability="sync"`.
Runs alternate between the two (so drift in machine load hits both alike); the figure is
the median wall time of one full run. Prints one JSON line; target `ratio <= 1.10`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import operator
import statistics
import time
from typing import Annotated

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from phalanx.agents import GraphBuilder


class FanState(BaseModel):
    seed: int = 0
    results: Annotated[list[int], operator.add] = Field(default_factory=list)
    total: int = 0


async def plan(state: FanState) -> dict:
    return {"seed": state.seed + 1}


def make_worker(i: int):
    async def worker(state: FanState) -> dict:
        return {"results": [state.seed * i]}

    return worker


async def join(state: FanState) -> dict:
    return {"total": sum(state.results)}


def build_phalanx(width: int):
    b = GraphBuilder(FanState, name="fan").add_node("plan", plan).add_node("join", join)
    b.add_edge(START, "plan")
    names = [f"w{i}" for i in range(width)]
    for i, name in enumerate(names):
        b.add_node(name, make_worker(i)).add_edge("plan", name)
    b.add_edge(names, "join").add_edge("join", END)
    return b.compile(checkpointer="memory", durability="sync")


def build_langgraph(width: int):
    g = StateGraph(FanState)
    g.add_node("plan", plan)
    g.add_node("join", join)
    g.add_edge(START, "plan")
    names = [f"w{i}" for i in range(width)]
    for i, name in enumerate(names):
        g.add_node(name, make_worker(i))
        g.add_edge("plan", name)
    g.add_edge(names, "join")
    g.add_edge("join", END)
    return g.compile(checkpointer=InMemorySaver())


async def measure(reps: int, width: int) -> dict:
    t0 = time.perf_counter()
    ph = build_phalanx(width)
    ph_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    lg = build_langgraph(width)
    lg_build = time.perf_counter() - t0
    expected = sum(range(width))

    async def run_ph(k: int) -> float:
        gc.collect()  # start each run with no garbage left by the other one
        t = time.perf_counter()
        out = await ph.run({"seed": 0}, thread_id=f"p{k}")
        dt = time.perf_counter() - t
        assert out.total == expected, out.total
        return dt

    async def run_lg(k: int) -> float:
        gc.collect()
        t = time.perf_counter()
        out = await lg.ainvoke(
            {"seed": 0}, {"configurable": {"thread_id": f"l{k}"}, "recursion_limit": 25}, durability="sync"
        )
        dt = time.perf_counter() - t
        assert out["total"] == expected, out["total"]
        return dt

    await run_ph(-1), await run_lg(-1)  # warm-up (imports, caches)
    ph_times: list[float] = []
    lg_times: list[float] = []
    for k in range(reps):
        # alternate which goes first so neither always runs on a warmer/colder process
        if k % 2:
            ph_times.append(await run_ph(k))
            lg_times.append(await run_lg(k))
        else:
            lg_times.append(await run_lg(k))
            ph_times.append(await run_ph(k))
    ph_s = statistics.median(ph_times)
    lg_s = statistics.median(lg_times)
    return {
        "benchmark": "runtime_overhead",
        "nodes": width + 2,
        "repetitions": reps,
        "phalanx_s": round(ph_s, 5),
        "langgraph_s": round(lg_s, 5),
        "ratio": round(ph_s / lg_s, 4),
        # median of per-repetition ratios: each pair ran back to back, so shared-machine load cancels
        "paired_ratio": round(statistics.median(p / q for p, q in zip(ph_times, lg_times, strict=True)), 4),
        "target_ratio": 1.10,
        "phalanx_build_s": round(ph_build, 4),
        "langgraph_build_s": round(lg_build, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=31, help="alternating repetitions (median is reported)")
    parser.add_argument("--width", type=int, default=200, help="number of parallel worker nodes")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.reps, args.width))))


if __name__ == "__main__":
    main()
