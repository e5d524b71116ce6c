"""Micro-batching throughput of the `hf:` backend: 32 concurrent chat calls, one by one vs batched.

Baseline (`sequential_s`): the 32 calls awaited one at a time through a model with
batching disabled (`max_batch_size=1`, so no window wait is added either).
Batched (`batched_s`): the same 32 calls issued at once with `asyncio.gather` through
the micro-batcher (5 ms window, batches of up to 32). Both use the same weights, greedy
decoding and a fixed number of new tokens; the run also checks that the batched texts
equal the one-by-one texts. Prints one JSON line.

Usage: python benchmarks/batching.py [--calls 32] [--max-new-tokens 24] [--repeats 2] [--hidden-size 128] [--layers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time

import torch

from phalanx.models import GenerationConfig, Message
from phalanx.models.hf import HFChatModel
from phalanx.models.tiny import build_tiny_checkpoint

SHAPE = {"hidden_size": 128, "num_layers": 4, "num_heads": 8, "num_kv_heads": 4, "vocab_size": 512}
"""Default model shape: still tiny (about 0.65 M parameters) so the run fits in minutes on
2 CPU cores; at this size per-step overhead matters more than on a real model, which is
the regime where many agents share one small local model."""


def prompts(n: int) -> list[list[Message]]:
    """`n` different short conversations of different lengths."""
    topics = ["the fox", "Alice and Bob", "the needle", "numbers 0123456789", "a JSON answer"]
    return [
        [Message.user(f"Request {i}: tell me about {topics[i % len(topics)]}. " * (1 + i % 3))]
        for i in range(n)
    ]


async def timed(coro_factory) -> tuple[float, list]:
    start = time.perf_counter()
    out = await coro_factory()
    return time.perf_counter() - start, out


async def run(calls: int, max_new_tokens: int, repeats: int, shape: dict[str, int]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        # Larger init std than transformers' default so continuations differ per prompt
        # (otherwise the equality check would compare identical strings).
        path = build_tiny_checkpoint(tmp, initializer_range=0.3, **shape)
        batched = HFChatModel.from_pretrained(path, device="cpu", window_s=0.005, max_batch_size=32)
    one_by_one = HFChatModel(batched.model, batched.tokenizer, name="one-by-one", max_batch_size=1)
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    convs = prompts(calls)

    async def sequential(n: int = calls) -> list:
        return [await one_by_one.chat(c, config=config) for c in convs[:n]]

    async def together() -> list:
        return await asyncio.gather(*(batched.chat(c, config=config) for c in convs))

    await sequential(4)  # warm-up (first-call allocations, lazy imports)
    await together()
    seq_times, bat_times = [], []
    for _ in range(repeats):
        t, seq_out = await timed(sequential)
        seq_times.append(t)
        sizes_before = len(batched.batcher.stats.sizes)
        t, bat_out = await timed(together)
        bat_times.append(t)
        sizes = batched.batcher.stats.sizes[sizes_before:]
    equal = all(a.message.content == b.message.content for a, b in zip(seq_out, bat_out, strict=True))
    tokens = sum(r.usage.completion_tokens for r in bat_out)
    if tokens != sum(r.usage.completion_tokens for r in seq_out):
        raise SystemExit("batched and one-by-one runs generated different numbers of tokens")
    seq_s, bat_s = min(seq_times), min(bat_times)
    await batched.aclose()
    await one_by_one.aclose()
    return {
        "benchmark": "hf micro-batching",
        "calls": calls,
        "sequential_s": round(seq_s, 4),
        "batched_s": round(bat_s, 4),
        "speedup": round(seq_s / bat_s, 2),
        "target_speedup": 4.0,
        "outputs_equal": equal,
        "batch_sizes": sizes,
        "generated_tokens": tokens,
        "max_new_tokens": max_new_tokens,
        "decoding": "greedy",
        "window_ms": 5,
        "model": {
            "family": "llama (random init)",
            **shape,
            "vocab_size": batched.model.config.vocab_size,  # the trained BPE may stop short of the request
            "params": sum(p.numel() for p in batched.model.parameters()),
        },
        "timing": f"best of {repeats} after one warm-up",
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=SHAPE["hidden_size"])
    parser.add_argument("--layers", type=int, default=SHAPE["num_layers"])
    args = parser.parse_args()
    shape = {**SHAPE, "hidden_size": args.hidden_size, "num_layers": args.layers}
    print(json.dumps(asyncio.run(run(args.calls, args.max_new_tokens, args.repeats, shape))))


if __name__ == "__main__":
    main()
