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
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# The haystack, the two models and timed greedy decoding below are shared with longheads_scaling.py.


TASK = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = "\nWhat is the pass key? The pass key is"
"""The official LongHeads passkey prompt (passkey_retrieval/passkey_retrieval.py), completion style."""


@dataclass
class Haystack:
    """One passkey prompt as token ids."""

    ids: list[int]
    key: str
    depth: float
    """Where the key line sits, as a fraction of the filler before it."""


def haystack(tokenizer: Any, length: int, depth: float, seed: int) -> Haystack:
    """A prompt of at most `length` tokens with a 5-digit key after `depth` of the filler."""
    key = str(random.Random(seed).randint(10000, 99999))

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    head, unit, tail = encode(TASK), encode(FILLER), encode(QUESTION)
    needle = encode(f"\nThe pass key is {key}. Remember it. {key} is the pass key.\n")
    units = max(0, (length - len(head) - len(needle) - len(tail)) // len(unit))
    before = round(depth * units)
    ids = head + unit * before + needle + unit * (units - before) + tail
    return Haystack(ids, key, depth)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both benchmarks take: model, LongHeads settings, decoding steps, threads."""
    parser.add_argument("--model", default="smollm2-135m-instruct", help="store name or model directory")
    parser.add_argument("--budget", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a CPU shared with other jobs)"
    )


def found_key(text: str, key: str) -> bool:
    """True when the first 5-digit number in `text` is the key."""
    match = re.search(r"\d{5}", text.replace(" ", ""))
    return bool(match) and match.group(0) == key


def load_model(path: str | Path, *, longheads: bool, chunk: int, budget: int) -> Any:
    """The checkpoint in fp32 on CPU, with ordinary SDPA attention or LongHeads."""
    from transformers import AutoModelForCausalLM

    from phalanx.models.longheads import install_longheads

    model = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=torch.float32, attn_implementation="sdpa", local_files_only=True
    ).eval()
    return install_longheads(model, chunk=chunk, budget=budget) if longheads else model


def resolve_model(name: str) -> Path:
    """A model-store name (`smollm2-135m-instruct`) or a model directory."""
    from phalanx.models.store import resolve

    path = Path(name).expanduser()
    if path.is_dir():
        return path
    found = resolve(name)
    if found is None:
        raise SystemExit(f"{name} is neither a directory nor installed; run `phalanx models pull {name}`")
    return found


@dataclass
class Run:
    """A timed greedy continuation."""

    tokens: list[int]
    prefill_s: float
    step_s: list[float] = field(default_factory=list)
    peak_mb: float | None = None
    """Peak resident memory during the run, above what was resident when it started."""

    @property
    def decode_ms_per_token(self) -> float:
        steps = self.step_s[1:] or self.step_s  # the first step pays one-off allocations
        return 1000 * sum(steps) / max(1, len(steps))


@torch.inference_mode()
def greedy(model: Any, ids: list[int], new_tokens: int) -> Run:
    """Prefill `ids`, then decode `new_tokens` greedily, timing both (one sequence)."""
    from transformers import DynamicCache

    from phalanx.models.longheads.cache import LongHeadsCache

    is_longheads = getattr(model, "longheads_settings", None) is not None
    cache = LongHeadsCache(model) if is_longheads else DynamicCache(config=model.config)
    base = _rss_mb()
    _reset_peak()
    start = time.perf_counter()
    logits = model(torch.tensor([ids]), cache=cache, logits_to_keep=1).logits
    run = Run([], time.perf_counter() - start)
    token = logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(new_tokens):
        run.tokens.append(int(token))
        start = time.perf_counter()
        logits = model(token, cache=cache).logits
        run.step_s.append(time.perf_counter() - start)
        token = logits[:, -1].argmax(-1, keepdim=True)
    peak = _peak_mb()
    run.peak_mb = None if peak is None or base is None else round(peak - base, 1)
    return run


def _status_mb(field_name: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _rss_mb() -> float | None:
    return _status_mb("VmRSS")


def _peak_mb() -> float | None:
    return _status_mb("VmHWM")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets the peak-RSS mark (Linux >= 4.0), so each run reports its own peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


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
