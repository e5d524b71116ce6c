"""ToolSword on the real model: valid protocol replies, and records per second with and without concurrency.

Model: SmolLM2-135M-Instruct from the model store (`hf:smollm2-135m-instruct`, pulled by
`.ci/setup`). Records: a fixed stratified sample of ToolSword (100 by default, each
scenario in its share of the 470 records, the first ones of each), replayed through the
tool-calling agent of `phalanx audit toolsword` with every declared tool.

Measured, in one run:
* `valid_reply_rate`: replies to the agent's JSON protocol that parsed as a protocol move
  (tool calls of declared tools, or a final answer that is not a placeholder echo) without
  a re-ask, with constrained decoding (the default) over both policy settings; and
  `valid_reply_rate_unconstrained` with `constrain=off` (JSON mode by instruction only)
  over the `none` setting.
* `records_per_s_sequential`: a subset of the sample (every 4th record) replayed one record
  at a time on a fresh model (`--concurrency 1`); `records_per_s_concurrent`: the whole
  sample replayed 16 at a time on another fresh model; `speedup` is their ratio (the
  sequential baseline also shares prompt prefixes and caches them, so the ratio is what
  concurrency adds on top).
* `full_audit_s`: 470 x 2 record-runs at the concurrent rate measured over both policy
  settings (the `default` setting blocks many inputs before any model call, so it is
  faster than `none`).
* `prefix_saved`: the prompt-token share the engine did not recompute (shared prefixes +
  the prefix cache), and `prefix_ab`: the concurrent wall time on the sequential subset with
  the prefix cache on vs off (`prefix_cache_mb=0`; in-batch sharing stays on in both), run
  alternately twice, best of each.

Prints one JSON line. CPU figures depend on the load of the machine: `load_avg` says what
it was at the start.

Usage: python benchmarks/real_model.py [--records 100] [--concurrency 16] [--model hf:smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phalanx.agents.audit import audit_toolsword
from phalanx.agents.tool_agent.protocol import is_placeholder, parse_reply
from phalanx.models import ChatResponse, GenerationConfig, JsonMode, Message, ModelOutputError, load_model
from phalanx.policies import load_toolsword
from phalanx.policies.toolsword_data import SCENARIOS, ToolSwordRecord, resolve_data_dir

FULL_AUDIT_RECORDS = 470


class ReplyCounter:
    """Wraps a model; counts the JSON-protocol replies that parse as a move without a re-ask."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.supports_tools = inner.supports_tools
        self.supports_json_schema = getattr(inner, "supports_json_schema", False)
        self.valid = 0
        self.invalid = 0

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: Any = None,
    ) -> ChatResponse:
        response = await self.inner.chat(
            messages, tools=tools, config=config, json_mode=json_mode, on_token=on_token
        )
        if json_mode is not False:
            try:
                move = parse_reply(response.message.content)
                ok = not (move.final_answer is not None and is_placeholder(move.final_answer))
            except ModelOutputError:
                ok = False
            self.valid += ok
            self.invalid += not ok
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def stratified(records: list[ToolSwordRecord], n: int) -> list[ToolSwordRecord]:
    """The first records of each scenario, each scenario in its share of the whole set."""
    by: dict[str, list[ToolSwordRecord]] = {}
    for r in records:
        by.setdefault(r.scenario, []).append(r)
    shares = {s: max(1, round(n * len(rs) / len(records))) for s, rs in by.items()}
    while sum(shares.values()) > n:
        shares[max(shares, key=lambda s: shares[s])] -= 1
    return [r for s, rs in by.items() for r in rs[: shares[s]]]


def write_subset(records: list[ToolSwordRecord], folder: Path) -> Path:
    """A ToolSword-shaped data folder holding only `records` (the audit reads folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = resolve_data_dir(None)
    keep = {(r.scenario, r.index) for r in records}
    for scenario, (name, _) in SCENARIOS.items():
        rows = json.loads((source / name).read_text())
        (folder / name).write_text(json.dumps([row for i, row in enumerate(rows) if (scenario, i) in keep]))
    return folder


async def replay(
    spec: str, data: Path, out: Path, policies: str, concurrency: int
) -> tuple[float, ReplyCounter, Any]:
    model = ReplyCounter(load_model(spec))
    started = time.perf_counter()
    await audit_toolsword(
        model, policies, "rules", None, data, out, baseline=False, report=False, concurrency=concurrency
    )
    wall = time.perf_counter() - started
    stats = getattr(getattr(model.inner, "engine", None), "stats", None)
    await model.aclose()
    return wall, model, stats


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hf:smollm2-135m-instruct")
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-unconstrained", action="store_true")
    args = parser.parse_args()
    load_avg = os.getloadavg()[0]

    sample = stratified(load_toolsword(None), args.records)
    subset = sample[::4]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_subset(sample, root / "sample")
        small = write_subset(subset, root / "subset")

        seq_s, seq_model, _ = await replay(args.model, small, root / "seq", "none", 1)
        # Cache on / off alternately, twice, best of each: the load of a shared machine drifts
        # over minutes, and one run of each in a row measured the drift more than the cache.
        nocache = f"{args.model}{'&' if '?' in args.model else '?'}prefix_cache_mb=0"
        on_off: dict[str, list[float]] = {"on": [], "off": []}
        for turn in range(2):
            for key, spec in (("on", args.model), ("off", nocache)):
                wall, _, _ = await replay(spec, small, root / f"conc-{key}-{turn}", "none", args.concurrency)
                on_off[key].append(wall)
        conc_small_s, conc_small_nocache_s = min(on_off["on"]), min(on_off["off"])
        none_s, none_model, none_stats = await replay(
            args.model, data, root / "none", "none", args.concurrency
        )
        default_s, default_model, _ = await replay(
            args.model, data, root / "default", "default", args.concurrency
        )
        free = None
        if not args.skip_unconstrained:
            spec = f"{args.model}{'&' if '?' in args.model else '?'}constrain=off"
            free_s, free, _ = await replay(spec, data, root / "free", "none", args.concurrency)

    valid = none_model.valid + default_model.valid
    total = valid + none_model.invalid + default_model.invalid
    rate_seq = len(subset) / seq_s
    rate_conc = 2 * len(sample) / (none_s + default_s)
    line = {
        "benchmark": "real_model",
        "model": args.model,
        "records": len(sample),
        "scenarios": {s: sum(r.scenario == s for r in sample) for s in SCENARIOS},
        "valid_reply_rate": round(valid / total, 4) if total else None,
        "replies": total,
        "valid_reply_rate_unconstrained": (
            round(free.valid / (free.valid + free.invalid), 4) if free and free.valid + free.invalid else None
        ),
        "replies_unconstrained": (free.valid + free.invalid) if free else None,
        "records_per_s_sequential": round(rate_seq, 4),
        "records_per_s_concurrent": round(len(sample) / none_s, 4),
        "speedup": round((len(sample) / none_s) / rate_seq, 2),
        "speedup_same_records": round(seq_s / conc_small_s, 2),
        "records_per_s_both_policies": round(rate_conc, 4),
        "full_audit_s": round(2 * FULL_AUDIT_RECORDS / rate_conc, 1),
        "prefix_saved": round(none_stats.reuse_rate, 4) if none_stats else None,
        "prefix_ab": {
            "cache_on_s": round(conc_small_s, 2),
            "cache_off_s": round(conc_small_nocache_s, 2),
            "ratio": round(conc_small_nocache_s / conc_small_s, 2),
        },
        "decode_batch_avg": round(none_stats.decode_rows / max(1, none_stats.decode_steps), 2)
        if none_stats
        else None,
        "seconds": {"sequential": round(seq_s, 1), "none": round(none_s, 1), "default": round(default_s, 1)},
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "load_avg": round(load_avg, 2),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
