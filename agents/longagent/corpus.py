"""An offline haystack corpus: varied, original filler prose from a seeded generator.

Needle-in-a-haystack tests need long natural-looking text that never mentions the
needle. Rather than download essays, phalanx writes its own (public domain by
construction): sentences from a small grammar over hand-written word lists. The
word lists avoid every word the needles use (vault, code, locker, keeper...).
"""

from __future__ import annotations

import random
from pathlib import Path

_ADJ = (
    "quiet old bright narrow distant gentle busy wooden silver crowded empty ancient "
    "cold patient careful simple curious restless golden green muddy tall broad"
).split()
_NOUN = (
    "river village orchard miller teacher lantern meadow bridge garden market sailor "
    "farmer window road forest letter painter chapel valley baker harvest candle shepherd "
    "mountain cottage kettle fisherman library workshop carpenter"
).split()
_VERB = (
    "watched crossed remembered carried followed repaired painted visited described "
    "praised ignored measured gathered answered opened noticed admired"
).split()
_PREP = "near beyond beside across behind under toward along".split()
_TIME = (
    "at dawn|before the rain|after supper|in early spring|during the long winter|"
    "on market day|late in the evening|every autumn|when the bells rang|for many years"
).split("|")
_CLAUSE = (
    "and nobody said a word|while the wind moved the grass|as the light began to fade|"
    "because the path was long|though the weather was mild|so the children laughed|"
    "until the fire burned low|and the dogs slept by the door"
).split("|")


def _sentence(rng: random.Random) -> str:
    a, b = rng.sample(_NOUN, 2)
    shape = rng.randrange(4)
    if shape == 0:
        s = f"the {rng.choice(_ADJ)} {a} {rng.choice(_VERB)} the {b} {rng.choice(_TIME)}"
    elif shape == 1:
        s = f"{rng.choice(_TIME)}, the {a} {rng.choice(_VERB)} the {rng.choice(_ADJ)} {b} {rng.choice(_CLAUSE)}"
    elif shape == 2:
        s = f"a {rng.choice(_ADJ)} {a} stood {rng.choice(_PREP)} the {b}, {rng.choice(_CLAUSE)}"
    else:
        s = f"the {a} {rng.choice(_PREP)} the {b} was {rng.choice(_ADJ)} and {rng.choice(_ADJ)} {rng.choice(_TIME)}"
    return s[0].upper() + s[1:] + "."


def generate_corpus(n_words: int, seed: int = 0) -> str:
    """Generated prose of about `n_words` words, in paragraphs (same seed, same text)."""
    rng = random.Random(seed)
    paragraphs, words = [], 0
    while words < n_words:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(4, 8)))
        words += len(para.split())
        paragraphs.append(para)
    return "\n\n".join(paragraphs)


def load_corpus(path: str | Path) -> str:
    """Text of a corpus file, or of every `*.txt` file under a directory (sorted).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: no text was found there.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"haystack corpus {p} does not exist; pass a .txt file or a folder of them")
    files = sorted(p.rglob("*.txt")) if p.is_dir() else [p]
    text = "\n\n".join(f.read_text(errors="replace") for f in files).strip()
    if not text:
        raise ValueError(f"haystack corpus {p} holds no text (folders are searched for *.txt files)")
    return text
