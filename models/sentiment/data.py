"""Multi-domain review data: the synthetic set phalanx generates, and the Amazon multi-domain layout.

Synthetic set (`synthetic_reviews`): reviews of several product domains whose sentiment
words are noisy evidence of the label, plus a *spurious domain cue*. Each domain tags
its reviews with a signature token (its "storefront") and has its own label prior,
0.5 ± `cue_strength`/2 alternating over the domains, so in the training domains the
signature predicts the label better than the sentiment words do. The domain confounds
text and label (domain -> signature, domain -> label), the setting of backdoor
adjustment. With `shifted=True` the link is broken, as in an unseen target domain:
labels are balanced and each review carries the signature of a random *other* domain.

Amazon layout (`load_amazon_reviews`), as in Blitzer et al. (2007) "Biographies,
Bollywood, Boom-boxes and Blenders": one folder per domain holding `positive.review`
and `negative.review`, each either the raw pseudo-XML (`<review> ... <review_text>
TEXT </review_text> ... </review>`) or the processed form (one review per line,
`feature:count ... #label#:positive`, bigrams joined by `_`). `unlabeled.review` is ignored.
"""

from __future__ import annotations

import html
import random
import re
from pathlib import Path

from pydantic import BaseModel

from phalanx.models.errors import ModelError

LABELS = ("negative", "positive")
"""The label set of both data sources, index = class id."""

DOMAINS = ("books", "dvd", "electronics", "kitchen")
"""The four domains of the Amazon multi-domain set (the synthetic set's defaults)."""


class ReviewDataError(ModelError, ValueError):
    """Review data that cannot be read: the message names the file, the line and the fix."""


class Review(BaseModel):
    """One labelled review of one domain."""

    text: str
    label: str
    """`negative` or `positive`."""
    domain: str


# Word lists of the synthetic set. Topic words mark the domain; signatures are the spurious cue.
_TOPICS = {
    "books": ["novel", "chapter", "author", "plot", "story", "writing"],
    "dvd": ["movie", "film", "actor", "scene", "director", "soundtrack"],
    "electronics": ["battery", "screen", "charger", "speaker", "cable", "device"],
    "kitchen": ["blender", "knife", "pan", "kettle", "mixer", "toaster"],
    "toys": ["puzzle", "doll", "game", "blocks", "robot", "kite"],
    "music": ["album", "song", "band", "lyrics", "guitar", "track"],
}
_SIGNATURES = {
    "books": "bookworm",
    "dvd": "cinephile",
    "electronics": "gadgeteer",
    "kitchen": "homecook",
    "toys": "playroom",
    "music": "audiophile",
}
_POSITIVE = ["great", "excellent", "wonderful", "love", "perfect", "amazing", "best", "happy"]
_NEGATIVE = ["terrible", "awful", "poor", "hate", "broken", "worst", "boring", "disappointing"]
_FILLER = ["the", "this", "it", "was", "and", "really", "very", "overall", "i", "my"]


def synthetic_reviews(
    domains: tuple[str, ...] | list[str] = DOMAINS,
    *,
    per_domain: int = 200,
    cue_strength: float = 0.8,
    sentiment_words: int = 3,
    sentiment_noise: float = 0.25,
    shifted: bool = False,
    seed: int = 0,
) -> list[Review]:
    """Generate labelled multi-domain reviews with a controllable spurious domain cue.

    Args:
        domains: domain names (from `books dvd electronics kitchen toys music`).
        per_domain: reviews per domain.
        cue_strength: how far each domain's label prior leans (0: balanced everywhere; 0.8:
            90% positive in even-numbered domains, 10% in odd ones), i.e. how well the
            signature predicts the label.
        sentiment_words: sentiment words per review.
        sentiment_noise: chance that each sentiment word has the opposite polarity.
        shifted: break the cue (balanced labels, a random other domain's signature).
        seed: random seed (same arguments, same reviews).

    Raises:
        ReviewDataError: an unknown domain or an out-of-range argument.
    """
    unknown = [d for d in domains if d not in _TOPICS]
    if unknown:
        raise ReviewDataError(f"unknown synthetic domain(s) {unknown}; choose from {sorted(_TOPICS)}")
    if not 0.0 <= cue_strength <= 1.0 or not 0.0 <= sentiment_noise <= 0.5:
        raise ReviewDataError("cue_strength must lie in [0, 1] and sentiment_noise in [0, 0.5]")
    if shifted and len(domains) < 2:
        raise ReviewDataError("shifted=True needs at least two domains (the cue comes from another one)")
    rng = random.Random(seed)
    reviews = []
    for index, domain in enumerate(domains):
        lean = cue_strength / 2 if index % 2 == 0 else -cue_strength / 2
        prior = 0.5 if shifted else 0.5 + lean
        others = [d for d in domains if d != domain]
        for _ in range(per_domain):
            positive = rng.random() < prior
            words = [rng.choice(_TOPICS[domain]) for _ in range(2)]
            words += [rng.choice(_FILLER) for _ in range(3)]
            for _ in range(sentiment_words):
                agrees = rng.random() >= sentiment_noise
                words.append(rng.choice(_POSITIVE if positive == agrees else _NEGATIVE))
            rng.shuffle(words)
            signature = _SIGNATURES[rng.choice(others) if shifted else domain]
            reviews.append(
                Review(text=f"{signature} {' '.join(words)}", label=LABELS[int(positive)], domain=domain)
            )
    return reviews


_RAW_TEXT = re.compile(r"<review_text>(.*?)</review_text>", re.DOTALL)
_PROCESSED_LABEL = "#label#:"


def load_amazon_reviews(root: str | Path, domains: list[str] | None = None) -> list[Review]:
    """Read the Amazon multi-domain layout: `ROOT/DOMAIN/{positive,negative}.review`.

    Args:
        root: the folder holding one sub-folder per domain.
        domains: only these domains (default: every sub-folder with review files).

    Raises:
        ReviewDataError: a missing folder or file, an unclosed `<review_text>`, a processed
            line without its label or with the other file's label (file and line named).
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise ReviewDataError(f"{base}: no such folder; pass the folder holding one folder per domain")
    folders = sorted(p for p in base.iterdir() if p.is_dir() and any(p.glob("*.review")))
    if domains is not None:
        missing = [d for d in domains if not (base / d).is_dir()]
        if missing:
            raise ReviewDataError(f"{base}: no domain folder(s) {missing}; found {[p.name for p in folders]}")
        folders = [base / d for d in domains]
    if not folders:
        raise ReviewDataError(
            f"{base}: no domain folders with .review files; expected {base}/DOMAIN/positive.review "
            "and negative.review (the Amazon multi-domain sentiment layout)"
        )
    reviews: list[Review] = []
    for folder in folders:
        for label in LABELS:
            path = folder / f"{label}.review"
            if not path.is_file():
                raise ReviewDataError(f"{path}: missing; each domain folder needs {label}.review")
            texts = _read_review_file(path, label)
            if not texts:
                raise ReviewDataError(f"{path}: holds no reviews")
            reviews.extend(Review(text=t, label=label, domain=folder.name) for t in texts)
    return reviews


def _read_review_file(path: Path, label: str) -> list[str]:
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ReviewDataError(f"{path}: cannot be read ({exc})") from exc
    if "<review" in content:
        return _raw_reviews(path, content)
    return _processed_reviews(path, content, label)


def _raw_reviews(path: Path, content: str) -> list[str]:
    opened = content.count("<review_text>")
    found = _RAW_TEXT.findall(content)
    if len(found) != opened:
        # Point at the first <review_text> that has no closing tag before the next one.
        offset = 0
        for _ in range(len(found) + 1):
            start = content.find("<review_text>", offset)
            end = content.find("</review_text>", start)
            following = content.find("<review_text>", start + 1)
            if end == -1 or (following != -1 and following < end):
                line = content.count("\n", 0, start) + 1
                raise ReviewDataError(f"{path}:{line}: <review_text> is never closed; add </review_text>")
            offset = end
    return [html.unescape(" ".join(t.split())) for t in found if t.strip()]


def _processed_reviews(path: Path, content: str, label: str) -> list[str]:
    texts = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        features, sep, stated = line.rpartition(_PROCESSED_LABEL)
        if not sep:
            raise ReviewDataError(
                f"{path}:{number}: no '{_PROCESSED_LABEL}' at the end of the line; a processed review "
                "line is 'feature:count ... #label#:positive'"
            )
        if stated.strip() != label:
            raise ReviewDataError(f"{path}:{number}: labelled {stated.strip()!r} inside {path.name}")
        words = []
        for item in features.split():
            feature, _, count = item.rpartition(":")
            if not feature or not count.isdigit():
                raise ReviewDataError(f"{path}:{number}: {item!r} is not 'feature:count'")
            if "_" not in feature:  # unigrams only: bigrams repeat them
                words.extend([feature] * min(int(count), 5))
        texts.append(" ".join(words))
    return texts
