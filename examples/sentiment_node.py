"""Backdoor-adjusted sentiment as a graph node: train, save, load as `sentiment:PATH`, classify.

Runs offline in about a minute on a CPU:
  1. generate multi-domain reviews whose domain signature ("bookworm", "gadgeteer", ...)
     predicts the label in the training domains (a spurious domain cue);
  2. train the causal classifier (backdoor adjustment over a dictionary of domain
     prototypes) on a tiny random BERT with MiniLM's tokenizer;
  3. save it as a phalanx checkpoint and load it back with `load_model("sentiment:DIR")`,
     a `ChatModel` whose reply is the label and whose `details["sentiment"]` holds
     P(y | do(x));
  4. score it on reviews where the cue is broken (`shifted=True`).

`phalanx sentiment lodo --synthetic` compares it with ERM, holding out each domain in turn.

Usage: python examples/sentiment_node.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile

from phalanx.models import Message, load_model
from phalanx.models.sentiment import (
    TrainOptions,
    evaluate_sentiment,
    save_sentiment_checkpoint,
    synthetic_reviews,
    train_sentiment,
)


async def main(folder: str) -> None:
    train = synthetic_reviews(("dvd", "electronics", "kitchen"), per_domain=100, cue_strength=0.8)
    model = train_sentiment(train, TrainOptions(method="causal", encoder="tiny", epochs=3))
    save_sentiment_checkpoint(folder, model)
    print(f"trained on {model.config.domains} with P(d) = {[round(p, 2) for p in model.config.domain_prior]}")

    node = load_model(f"sentiment:{folder}")
    for text in ("cinephile the movie was wonderful and i love it", "gadgeteer awful broken screen"):
        reply = await node.chat([Message.user(text)])
        probs = {k: round(v, 2) for k, v in reply.details["sentiment"]["probabilities"].items()}
        print(f"{text!r} -> {reply.message.content} {probs}")
    reply = await node.chat([Message.user("homecook great blender")], json_mode=True)
    print("json_mode:", sorted(json.loads(reply.message.content or "{}")))

    # An unseen domain where the training domains' signatures appear at random (cue broken).
    shifted = synthetic_reviews(per_domain=100, cue_strength=0.8, shifted=True, seed=1)
    unseen = [r for r in shifted if r.domain == "books"]
    print(f"unseen domain 'books', cue broken: accuracy {evaluate_sentiment(model, unseen).accuracy:.3f}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
