"""HAG: the model picks its own decoding configuration for each request, then answers with it.

Runs offline in seconds:
  1. `hag:` over a tiny random `hf:` model: stage 1 decodes under the configuration's JSON
     schema; random weights write digits without end, so the JSON is cut at stage 1's token
     limit and the node takes the fallback (a fine-tuned model writes a proper configuration:
     tests/models/test_hag.py fine-tunes a tiny one in seconds);
  2. `HagChatModel` over a scripted model whose stage-1 reply is prose: the node takes the
     documented fallback (greedy, 256 tokens) and records why;
  3. a listener registered with `on_hag_choice` sees every choice (the agents layer uses one
     to put it in a run's event stream).

The choice is on every reply as `reply.details["hag"]`.

Usage: python examples/hag_node.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile

from phalanx.models import GenerationConfig, Message, ScriptedModel, build_tiny_checkpoint, load_model
from phalanx.models.hag import HagChatModel, on_hag_choice


async def main(path: str) -> None:
    seen = []
    unsubscribe = on_hag_choice(lambda choice: seen.append(choice.source))
    question = [Message.user("Write a short poem about the sea.")]
    model = load_model(f"hag:{path}")
    reply = await model.chat(question, config=GenerationConfig(max_new_tokens=12))
    hag = reply.details["hag"]
    print(f"hag:TINY chose {json.dumps(hag['config'])} ({hag['source']}; {hag['problem'] or 'as written'})")
    await model.aclose()

    prose = ScriptedModel(lambda msgs, tools: "I'd sample warmly." if msgs[0].role == "system" else "A poem.")
    reply = await HagChatModel(prose).chat(question)
    print(f"prose stage 1 -> {reply.details['hag']['source']}: {reply.details['hag']['problem']}")
    print(f"listener saw: {seen}")
    unsubscribe()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(str(build_tiny_checkpoint(tmp))))
