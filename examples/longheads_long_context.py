"""LongHeads: a model answers prompts longer than its pretrained window, training-free.

Runs offline in seconds on a tiny random Llama with grouped-query attention whose rotary
embedding was "trained" for 128 positions (so the text is gibberish; the mechanics are real):
  1. `hf:` refuses a 300-token prompt (past the model's 128 positions);
  2. `longheads:...?chunk=8&budget=64` serves it: each head attends to at most 64 tokens
     (first chunk, its own best chunks, the previous and its own chunk) at positions < 64;
  3. with a budget covering the whole prompt, LongHeads equals ordinary attention.

For real figures (SmolLM2-135M-Instruct, passkey retrieval at 4K-32K tokens), run
`python benchmarks/longheads_passkey.py` and `python benchmarks/longheads_scaling.py`.

Usage: python examples/longheads_long_context.py
"""

from __future__ import annotations

import asyncio
import tempfile

import torch

from phalanx.models import GenerationConfig, Message, ModelRequestError, build_tiny_checkpoint, load_model

PROMPT = [Message.user("The quick brown fox jumps over the lazy dog. " * 24)]


async def answer(spec: str) -> str:
    model = load_model(spec)
    try:
        reply = await model.chat(PROMPT, config=GenerationConfig(max_new_tokens=8))
        return f"{reply.usage.prompt_tokens}-token prompt -> {reply.usage.completion_tokens} new tokens"
    except ModelRequestError as exc:
        return f"refused: {exc}"
    finally:
        await model.aclose()


def same_as_ordinary(path: str) -> bool:
    from transformers import AutoModelForCausalLM

    from phalanx.models.longheads import install_longheads

    ids = torch.randint(5, 300, (1, 100), generator=torch.Generator().manual_seed(0))
    plain = AutoModelForCausalLM.from_pretrained(path).eval()
    longheads = install_longheads(AutoModelForCausalLM.from_pretrained(path).eval(), chunk=8, budget=128)
    with torch.inference_mode():
        return torch.allclose(plain(ids).logits, longheads(ids).logits, rtol=1e-4, atol=1e-4)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(build_tiny_checkpoint(tmp, num_heads=4, num_kv_heads=2, max_position_embeddings=128))
        print("hf:        ", asyncio.run(answer(f"hf:{path}")))
        print("longheads: ", asyncio.run(answer(f"longheads:{path}?chunk=8&budget=64")))
        print("budget >= length equals ordinary attention:", same_as_ordinary(path))


if __name__ == "__main__":
    main()
