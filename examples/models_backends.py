"""Model backends: a tiny local `hf:` model, micro-batched calls, and the same model over HTTP.

Runs offline in seconds: it builds a tiny random Llama checkpoint (so the text is
gibberish; the mechanics are real), then
  1. loads it with `load_model("hf:DIR")` and streams one answer token by token,
  2. sends several concurrent calls that the micro-batcher runs as one `generate`,
  3. (unless --no-serve) serves it with `phalanx serve`'s server on 127.0.0.1 and
     talks to it through the `openai:` backend.

Usage: python examples/models_backends.py [--no-serve]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile

from phalanx.models import BackgroundServer, GenerationConfig, Message, build_tiny_checkpoint, load_model


async def local_calls(spec: str) -> None:
    model = load_model(spec)
    config = GenerationConfig(max_new_tokens=12)

    pieces: list[str] = []
    answer = await model.chat([Message.user("Tell me about the fox.")], config=config, on_token=pieces.append)
    print(
        f"streamed {len(pieces)} pieces -> {answer.message.content!r} ({answer.usage.completion_tokens} tokens)"
    )

    questions = [f"Question {i}: who is Bob?" for i in range(6)]
    before = len(model.batcher.stats.sizes)
    answers = await asyncio.gather(*(model.chat([Message.user(q)], config=config) for q in questions))
    print(f"{len(answers)} concurrent calls ran in batches of sizes {model.batcher.stats.sizes[before:]}")
    await model.aclose()


async def remote_call(spec: str) -> None:
    with BackgroundServer(spec, served_name="tiny") as server:
        print(f"serving on {server.base_url}")
        remote = load_model(f"openai:{server.base_url}#tiny")
        reply = await remote.chat(
            [Message.user("Hello over HTTP")], config=GenerationConfig(max_new_tokens=8)
        )
        print(f"openai: backend got {reply.message.content!r} (finish: {reply.finish_reason})")
        await remote.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="phalanx model backends example")
    parser.add_argument("--no-serve", action="store_true", help="skip the HTTP part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # initializer_range 0.3: different prompts give different (random) text.
        path = build_tiny_checkpoint(tmp, initializer_range=0.3)
        spec = f"hf:{path}"
        asyncio.run(local_calls(spec))
        if not args.no_serve:
            asyncio.run(remote_call(spec))


if __name__ == "__main__":
    main()
