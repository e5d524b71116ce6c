"""How LongHeads and ordinary SDPA attention scale with context on SmolLM2-135M-Instruct.

For each length (default 4K, 8K, 16K, 32K tokens of the passkey haystack) and each
attention, one prefill of the whole prompt and `--new-tokens` greedy decoding steps, in
fp32 on the CPU: `prefill_s`, `decode_ms_per_token` (steps after the first) and the peak
resident memory the run added (`peak_mb`). Growth ratios: `longheads_prefill_growth` =
t(32K)/t(8K) for LongHeads (target <= 5: linear beyond the budget) and
`full_prefill_growth` for ordinary attention (quadratic); `longheads_decode_growth` =
LongHeads decode ms/token at 32K over 4K (target <= 1.5). Prints one JSON line.

Usage: python benchmarks/longheads_scaling.py [--model smollm2-135m-instruct]
       [--lengths 4096,8192,16384,32768] [--new-tokens 8] [--budget 4096] [--chunk 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from longheads_passkey import common_arguments, greedy, haystack, load_model, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--lengths", default="4096,8192,16384,32768")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    path = resolve_model(args.model)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    lengths = [int(x) for x in args.lengths.split(",")]
    figures: dict[str, dict[str, dict]] = {"longheads": {}, "ordinary": {}}
    for name in figures:
        model = load_model(path, longheads=name == "longheads", chunk=args.chunk, budget=args.budget)
        for length in lengths:
            case = haystack(tokenizer, length, 0.5, seed=length)
            run = greedy(model, case.ids, args.new_tokens)
            figures[name][str(length)] = {
                "tokens": len(case.ids),
                "prefill_s": round(run.prefill_s, 3),
                "decode_ms_per_token": round(run.decode_ms_per_token, 1),
                "peak_mb": run.peak_mb,
            }
        del model

    def ratio(name: str, key: str, top: int, base: int, base_name: str | None = None) -> float | None:
        rows, under = figures[name], figures[base_name or name]
        if str(top) not in rows or str(base) not in under or not under[str(base)][key]:
            return None
        return round(rows[str(top)][key] / under[str(base)][key], 2)

    top = max(lengths)
    result = {
        "benchmark": "longheads_scaling",
        "model": str(args.model),
        "device": f"cpu ({platform.machine()}), fp32, {args.threads} thread(s)",
        "budget": args.budget,
        "chunk": args.chunk,
        "decode_tokens": args.new_tokens,
        **figures,
        "longheads_prefill_growth": ratio("longheads", "prefill_s", top, 8192),
        "full_prefill_growth": ratio("ordinary", "prefill_s", top, 8192),
        "longheads_decode_growth": ratio("longheads", "decode_ms_per_token", top, 4096),
        "full_decode_growth": ratio("ordinary", "decode_ms_per_token", top, 4096),
        "longheads_over_full_prefill_at_max": ratio("longheads", "prefill_s", top, top, "ordinary"),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
