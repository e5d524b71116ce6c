"""Causal domain-generalisation sentiment: a backdoor-adjusted classifier, its ERM baseline, and the data.

Data (no torch): `Review`, `synthetic_reviews` (multi-domain reviews with a controllable
spurious domain cue), `load_amazon_reviews` (the Amazon multi-domain layout),
`ReviewDataError`. Models and training (torch, loaded lazily): `SentimentClassifier`,
`SentimentConfig`, `TrainOptions`, `TrainedSentiment`, `train_sentiment`,
`evaluate_sentiment`, `leave_one_domain_out`, `LodoReport`, and the `sentiment:PATH` node
`SentimentChatModel` with `save_sentiment_checkpoint` / `load_sentiment_checkpoint`.
"""

from typing import Any

from phalanx.models.sentiment.data import (
    DOMAINS,
    LABELS,
    Review,
    ReviewDataError,
    load_amazon_reviews,
    synthetic_reviews,
)

__all__ = ["DOMAINS", "LABELS", "Review", "ReviewDataError", "load_amazon_reviews", "synthetic_reviews"]

_LAZY = {
    "SentimentClassifier": "phalanx.models.sentiment.model",
    "SentimentConfig": "phalanx.models.sentiment.model",
    "build_encoder": "phalanx.models.sentiment.model",
    "TrainOptions": "phalanx.models.sentiment.train",
    "TrainedSentiment": "phalanx.models.sentiment.train",
    "EvalReport": "phalanx.models.sentiment.train",
    "LodoReport": "phalanx.models.sentiment.train",
    "LodoRow": "phalanx.models.sentiment.train",
    "train_sentiment": "phalanx.models.sentiment.train",
    "evaluate_sentiment": "phalanx.models.sentiment.train",
    "leave_one_domain_out": "phalanx.models.sentiment.train",
    "SentimentChatModel": "phalanx.models.sentiment.node",
    "save_sentiment_checkpoint": "phalanx.models.sentiment.node",
    "load_sentiment_checkpoint": "phalanx.models.sentiment.node",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    # Lazy so the data half (and `phalanx sentiment --help`) never imports torch.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.sentiment' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
