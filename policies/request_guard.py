"""The input-stage guard backed by the trained request classifier (`phalanx.policies.request_classifier`).

It runs beside the rule-and-seed guards (`malicious_query`, `jailbreak`), which stay as a floor:
a user turn is blocked when any of them flags it.
"""

from __future__ import annotations

from phalanx.policies.guard import Guard, GuardResources, register_guard
from phalanx.policies.request_classifier import RequestClassifier, shared_classifier
from phalanx.policies.types import Finding, GuardContext, Stage


class RequestClassifierGuard(Guard):
    """Flags a user turn whose P(harmful request) reaches the threshold.

    Args:
        classifier: the trained head (its own cross-validated threshold unless `threshold` is given).
        embedder: the shared `SentenceEmbedder` (the turn's embedding is cached for the other guards).
        threshold: probability at or above which the turn is flagged.
    """

    name = "request_classifier"
    stage = Stage.INPUT

    def __init__(self, classifier: RequestClassifier, embedder, threshold: float | None = None) -> None:
        self.classifier = classifier
        self.embedder = embedder
        self.threshold = classifier.threshold if threshold is None else threshold

    async def check(self, ctx: GuardContext) -> Finding:
        text = (ctx.text or "").strip()
        if not text:
            return Finding(flagged=False, score=0.0, reason="empty turn")
        p = float(self.classifier.score([text], self.embedder)[0])
        if p >= self.threshold:
            return Finding(
                flagged=True,
                score=p,
                category="harmful-request",
                spans=[text[:200]],
                reason=f"request classifier: P(harmful) {p:.2f} >= {self.threshold:.2f}",
            )
        return Finding(flagged=False, score=p, reason=f"request classifier: P(harmful) {p:.2f}")


@register_guard("request_classifier", Stage.INPUT)
def _build(config, res: GuardResources) -> Guard:
    """Options: `model` — `default` (the shipped classifier) or a path to one from `train-input-guard`.
    `threshold` overrides the model's cross-validated threshold."""
    model = str(config.options.get("model", "default"))
    return RequestClassifierGuard(shared_classifier(model), res.embedder, threshold=config.threshold)
