"""Evolve the embedded kinship set in all eight modes with scripted agents, then compare two models.

Runs offline in seconds:

    python examples/selfevolve_demo.py [OUT_DIR]

It writes OUT_DIR/evolved.jsonl (every record with provenance and status), prints how many
instances passed the double verification per mode, evaluates a strong and a weak scripted
model on the originals and each mode, and writes OUT_DIR/report.html with a chart.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from phalanx.agents.selfevolve import (
    ALL_MODES,
    evaluate_models,
    evolve_dataset,
    load_instances,
    write_report,
)


async def main(out: Path) -> None:
    originals = load_instances("embedded:kinship", limit=16)
    print(f"original: {originals[0].context}\n  Q: {originals[0].question}  A: {originals[0].answer}")
    summary = await evolve_dataset(
        originals,
        list(ALL_MODES),
        generator="scripted:evolve-generator",
        verifier="scripted:evolve-verifier",
        out_dir=out,
        concurrency=8,
    )
    for mode, counts in summary.counts.items():
        print(f"{mode:12s} pass={counts['pass']:3d} fail={counts['fail']:3d}")
    result = await evaluate_models(["scripted:evolve-solver", "scripted:evolve-guesser"], out)
    for model in result.models:
        row = ", ".join(
            f"{s.mode}={s.accuracy:.0%}" + ("" if s.delta is None else f"({s.delta * 100:+.0f})")
            for s in result.scores
            if s.model == model
        )
        print(f"{model}: {row}")
    print(f"report: {write_report(result, out)}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="selfevolve-"))
    asyncio.run(main(target))
