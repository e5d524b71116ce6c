"""HAG data and tuning end to end: search each sample's decoding settings, fine-tune, load with hag:.

Run: python examples/hag_tuning.py [MODEL_DIR]   (default: a tiny random Llama built here)

With a real model (`python examples/hag_tuning.py smollm2-135m-instruct`) the search scores real
replies; the tiny random model only shows the plumbing. The CLI does the same:
`phalanx hag search --model hf:MODEL --data samples.jsonl --out records.jsonl`, then
`phalanx hag tune --model MODEL --data records.jsonl --out DIR [--lora]`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from phalanx.models import Message, build_tiny_checkpoint, load_model
from phalanx.models.trainers import (
    HagSample,
    HagTuneSettings,
    SearchSpace,
    build_hag_dataset,
    load_trainable,
    tune_hag,
)

SAMPLES = [
    HagSample(
        prompt="What is 12 + 30? Answer with the number.", reference="42", metric="number", task="arithmetic"
    ),
    HagSample(prompt="Name the capital of France.", reference="Paris", metric="contains", task="facts"),
]


async def search(spec: str) -> list:
    model = load_model(f"hf:{spec}")
    # A small grid: greedy and two sampling points, one refinement pass (the defaults search 25 + refinement).
    space = SearchSpace(
        temperatures=[0.7],
        top_ps=[0.9, 1.0],
        top_ks=[0],
        repetition_penalties=[1.0],
        max_new_tokens=8,
        rounds=1,
        max_evaluations=6,
    )
    try:
        return await build_hag_dataset(model, SAMPLES, space=space, generations=1)
    finally:
        await model.aclose()


async def ask(checkpoint: Path) -> str:
    model = load_model(f"hag:{checkpoint}")
    try:
        choice, _ = await model.choose([Message.user("Write a short poem about the sea.")])  # type: ignore[attr-defined]
        return f"{choice.source}: {choice.config.model_dump()}"
    finally:
        await model.aclose()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="phalanx-hag-"))
    spec = sys.argv[1] if len(sys.argv) > 1 else str(build_tiny_checkpoint(work / "tiny"))
    records = asyncio.run(search(spec))
    print(f"searched {len(records)} samples:")
    for sample, record in zip(SAMPLES, records, strict=True):
        print(
            f"  {sample.task}: {record.completion[0]['content']} (score {record.default_score} -> {record.score})"
        )
    model, tokenizer = load_trainable(spec)
    settings = HagTuneSettings(steps=4, batch_size=2, learning_rate=2e-4, lora=True)
    result = tune_hag(model, tokenizer, records, work / "hag", settings, base_model=spec)
    print(f"tuned: loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f} (LoRA merged) -> {result.out}")
    print("hag: stage 1 ->", asyncio.run(ask(result.out)))


if __name__ == "__main__":
    main()
