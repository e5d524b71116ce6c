"""Passkey retrieval with LongHeads vs ordinary attention on SmolLM2-135M-Instruct (8K window).

A 5-digit key sits at evenly spaced depths of the official LongHeads filler text
("The grass is green. ..."), and the model completes "What is the pass key? The pass key
is" greedily. Each length is run with ordinary SDPA attention and with LongHeads
(`budget` tokens per head, default 4096), in fp32 on the CPU. The paper's claim holds
here if LongHeads keeps >= 0.8 accuracy at 16K and 32K where ordinary attention drops.
Prints one JSON line (accuracies, per-run answers, seconds).

Usage: python benchmarks/longheads_passkey.py [--model smollm2-135m-instruct]
       [--lengths 4096,16384,32768] [--placements 5 | 3,1,1] [--budget 4096] [--chunk 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from _longheads_common import common_arguments, found_key, greedy, haystack, load_model, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--lengths", default="4096,16384,32768")
    parser.add_argument(
        "--placements", default="5", help="key depths per length: one number, or one per length (3,1,1)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    path = resolve_model(args.model)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    models = {
        "ordinary": load_model(path, longheads=False, chunk=args.chunk, budget=args.budget),
        "longheads": load_model(path, longheads=True, chunk=args.chunk, budget=args.budget),
    }
    lengths = [int(x) for x in args.lengths.split(",")]
    counts = [int(x) for x in args.placements.split(",")]
    counts = counts * len(lengths) if len(counts) == 1 else counts
    if len(counts) != len(lengths) or min(counts) < 1:
        raise SystemExit("--placements needs one positive number or one per length")
    results: dict[str, dict] = {}
    for length, count in zip(lengths, counts, strict=True):
        depths = [(i + 0.5) / count for i in range(count)]
        row: dict = {"answers": {name: [] for name in models}, "seconds": {name: 0.0 for name in models}}
        for i, depth in enumerate(depths):
            case = haystack(tokenizer, length, depth, seed=1000 * length + i)
            row["tokens"] = len(case.ids)
            for name, model in models.items():
                run = greedy(model, case.ids, args.new_tokens)
                text = tokenizer.decode(run.tokens, skip_special_tokens=True)
                row["answers"][name].append({"key": case.key, "depth": round(depth, 2), "said": text.strip()})
                row["seconds"][name] = round(row["seconds"][name] + run.prefill_s + sum(run.step_s), 1)
        for name in models:
            hits = [found_key(a["said"], a["key"]) for a in row["answers"][name]]
            row[name] = round(sum(hits) / len(hits), 2)
        results[str(length)] = row
    long = [k for k in results if int(k) > 8192]
    holds = bool(long) and all(
        results[k]["longheads"] >= 0.8 and results[k]["longheads"] > results[k]["ordinary"] for k in long
    )
    print(
        json.dumps(
            {
                "benchmark": "longheads_passkey",
                "model": str(args.model),
                "device": f"cpu ({platform.machine()}), fp32, {args.threads} thread(s)",
                "placements_per_length": dict(zip(map(str, lengths), counts, strict=True)),
                "budget": args.budget,
                "chunk": args.chunk,
                "accuracy": {
                    k: {"ordinary": v["ordinary"], "longheads": v["longheads"]} for k, v in results.items()
                },
                "claim_holds": holds,
                "runs": results,
                "elapsed_s": round(time.perf_counter() - began, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
