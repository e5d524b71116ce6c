"""Input-stage guards (ToolSword MQ and JA): malicious queries and jailbreak wrappers on the user turn."""

from __future__ import annotations

import numpy as np

from phalanx.policies import seeds as lex
from phalanx.policies.embedder import PrototypeIndex, SentenceEmbedder
from phalanx.policies.guard import Guard, GuardResources, register_guard
from phalanx.policies.judge_guard import ModelJudgeGuard, with_judge
from phalanx.policies.seeds import SeedSet
from phalanx.policies.text import split_sentences
from phalanx.policies.types import Finding, GuardContext, Stage

DEFENSIVE_PENALTY = 0.1
"""Similarity discount for a segment phrased defensively (protect, detect, report, help a victim)."""


def benign_prototypes(seeds: SeedSet) -> dict[str, list[str]]:
    """The benign request seeds and the sensitive-but-safe contrast requests: a turn must be closer
    to a harmful request than to "how do nerve agents affect the body?" by the margin."""
    benign = dict(seeds.benign_requests)
    benign.update({f"sensitive:{k}": v for k, v in seeds.sensitive_requests.items()})
    return benign


class HarmIntentScorer:
    """Scores texts against harmful-request vs benign-request prototypes (shared by input guards)."""

    def __init__(
        self,
        embedder: SentenceEmbedder,
        seeds: SeedSet,
        threshold: float,
        margin: float,
        anchors: np.ndarray | None = None,
    ) -> None:
        """`anchors`: embedded benign requests (the request classifier's training requests) that
        join the benign prototypes, so a turn must also beat its nearest known benign request."""
        self.harmful = PrototypeIndex(embedder, seeds.harmful_requests)
        self.benign = PrototypeIndex(
            embedder,
            benign_prototypes(seeds),
            vectors={"benign training request": anchors} if anchors is not None else None,
        )
        self.threshold = threshold
        self.margin = margin

    def score(self, segments: list[str]) -> tuple[float, str | None, str | None]:
        """Best (harmful similarity, category, segment) over segments that beat the benign side by `margin`."""
        best: tuple[float, str | None, str | None] = (0.0, None, None)
        for seg, (label, h, _), (_, b, _) in zip(
            segments, self.harmful.best(segments), self.benign.best(segments), strict=True
        ):
            if lex.DEFENSIVE.search(seg):
                h -= DEFENSIVE_PENALTY
            if h - b >= self.margin and h > best[0]:
                best = (h, label, seg)
        return best


def _segments(text: str, limit: int = 16) -> list[str]:
    # Whole turn plus its sentences: a harmful question hidden in a long wrapper
    # is diluted in the whole-turn embedding but stands out on its own.
    sentences = [s for s in split_sentences(text) if len(s) > 12]
    segs = [text[:2000]] + sentences[:limit]
    return list(dict.fromkeys(segs))


class MaliciousQueryGuard(Guard):
    """Flags user turns that ask for help with harm (fraud, violence, cybercrime, ...).

    Rules: a request cue ("how to", "ways to", ...) with general crime vocabulary, or an
    evasion cue ("without getting caught"). Embeddings: a sentence of the turn is closer to
    a harmful-request prototype than `threshold` and beats every benign prototype by `margin`.
    """

    name = "malicious_query"
    stage = Stage.INPUT

    def __init__(self, scorer: HarmIntentScorer) -> None:
        self.scorer = scorer

    async def check(self, ctx: GuardContext) -> Finding:
        text = ctx.text or ""
        for seg in _segments(text):
            # Homonyms and idioms ("manipulate a DataFrame") and what-does-it-mean questions are
            # no request for harm; the embedding check below still reads them.
            term = (
                None if lex.DEFINITION.search(seg) else lex.HARM_TERMS.search(lex.BENIGN_SENSE.sub(" ", seg))
            )
            if (
                term
                and not lex.DEFENSIVE.search(seg)
                and (lex.REQUEST_CUE.search(seg) or seg.rstrip().endswith("?"))
            ):
                return Finding(
                    flagged=True,
                    score=1.0,
                    category="harm-request",
                    reason=f"asks how to do something harmful ({term.group(0)!r})",
                    spans=[seg],
                )
            if lex.EVASION.search(seg) and lex.REQUEST_CUE.search(seg) and not lex.DEFENSIVE.search(seg):
                return Finding(
                    flagged=True,
                    score=1.0,
                    category="evasion",
                    reason="asks how to avoid detection",
                    spans=[seg],
                )
        score, label, best_seg = self.scorer.score(_segments(text))
        if label is not None and score >= self.scorer.threshold:
            return Finding(
                flagged=True,
                score=score,
                category=label,
                spans=[best_seg] if best_seg else [],
                reason=f"close to harmful requests of category {label!r} (cosine {score:.2f})",
            )
        return Finding(flagged=False, score=score, reason="no harmful intent found")


class JailbreakGuard(Guard):
    """Flags jailbreak wrappers: instruction override, persona without limits, simulated unrestricted
    AIs, program-output simulation; role-play framing flags only with a harmful payload or a close
    jailbreak prototype (so "act as a travel agent" passes).
    """

    name = "jailbreak"
    stage = Stage.INPUT

    def __init__(
        self, embedder: SentenceEmbedder, seeds: SeedSet, intent: HarmIntentScorer, threshold: float
    ) -> None:
        self.index = PrototypeIndex(embedder, seeds.jailbreak_prototypes)
        self.benign = PrototypeIndex(embedder, benign_prototypes(seeds))
        self.intent = intent
        self.threshold = threshold

    async def check(self, ctx: GuardContext) -> Finding:
        text = ctx.text or ""
        for family, pattern in lex.JAILBREAK_RULES:
            m = pattern.search(text)
            if m:
                return Finding(
                    flagged=True,
                    score=1.0,
                    category=family,
                    spans=[m.group(0)[:200]],
                    reason=f"jailbreak pattern: {family}",
                )
        segs = _segments(text)
        score, label, seg = self.index.best_beating(self.benign, segs)
        if label is not None and score >= self.threshold:
            return Finding(
                flagged=True,
                score=score,
                category=label,
                spans=[seg] if seg else [],
                reason=f"close to jailbreak family {label!r} (cosine {score:.2f})",
            )
        if lex.ROLEPLAY.search(text):
            h, hlabel, hseg = self.intent.score(segs)
            if hlabel is not None and h >= self.intent.threshold - 0.05:
                return Finding(
                    flagged=True,
                    score=h,
                    category="roleplay-payload",
                    spans=[hseg] if hseg else [],
                    reason=f"role-play framing around a harmful request ({hlabel})",
                )
        return Finding(flagged=False, score=score, reason="no jailbreak pattern")


def _anchors(spec: str) -> np.ndarray | None:
    if spec == "none":
        return None
    from phalanx.policies.request_classifier import shared_classifier  # numpy data: on first use

    return shared_classifier(spec).anchors


def _intent(config, res: GuardResources) -> HarmIntentScorer:
    """Option `benign_anchors`: `default` (the shipped request classifier's benign training requests),
    `none`, or the path of a classifier from `train-input-guard`."""
    return HarmIntentScorer(
        res.embedder,
        res.seeds,
        threshold=config.threshold if config.threshold is not None else 0.52,
        margin=config.margin if config.margin is not None else 0.04,
        anchors=_anchors(str(config.options.get("benign_anchors", "default"))),
    )


@register_guard("malicious_query", Stage.INPUT)
def _build_mq(config, res: GuardResources) -> Guard:
    return with_judge(MaliciousQueryGuard(_intent(config, res)), config, res, ModelJudgeGuard.MALICIOUS_QUERY)


@register_guard("jailbreak", Stage.INPUT)
def _build_ja(config, res: GuardResources) -> Guard:
    from phalanx.policies.config import GuardConfig

    guard = JailbreakGuard(
        res.embedder,
        res.seeds,
        _intent(GuardConfig(), res),
        threshold=config.threshold if config.threshold is not None else 0.62,
    )
    return with_judge(guard, config, res, ModelJudgeGuard.JAILBREAK)
