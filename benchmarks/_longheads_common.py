"""Shared parts of the LongHeads benchmarks: the passkey haystack, the two models, timed greedy decoding.

Not a benchmark itself (the leading underscore says so): `longheads_passkey.py` and `longheads_scaling.py`
import it; each prints its own JSON line.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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
