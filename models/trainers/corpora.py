"""Multilingual text for the linguistic-region trainers: Debian's fortune files, or a folder per language.

Zhang et al. 2024 accumulate gradients over each language's pretraining text. phalanx
needs text that installs offline, so the default source is the fortune cookies Debian
ships per language (`fortunes` for English, `fortunes-de`, `fortunes-es`, `fortunes-it`,
`fortunes-pl`, `fortunes-ru`, `fortunes-zh`, `fortunes-br` for Portuguese), read from
`/usr/share/games/fortunes`. A user folder works too: one sub-folder per language code
holding `.txt` files, or one `LANG.txt` file per language.

The text of a language is joined and cut into blocks of `seq_len` tokens
(`token_blocks`): one block is one "sample" of the paper's sample counts.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from phalanx.models.errors import ModelError

FORTUNES_ROOT = Path("/usr/share/games/fortunes")
"""Where Debian installs the fortune files."""

FORTUNE_SOURCES: dict[str, tuple[str, ...]] = {
    # English: the prose collections of the `fortunes` package (its ASCII-art files are left out).
    "en": ("fortunes", "wisdom", "literature", "science", "people", "humorists", "love", "work", "politics"),
    "de": ("de",),
    "es": ("es",),
    "it": ("it",),
    "pl": ("pl",),
    "ru": ("ru",),
    "zh": ("chinese", "tang300", "song100"),
    "pt": ("brasil",),
}
"""Files or folders under `FORTUNES_ROOT` per language code."""

FORTUNE_PACKAGES = {
    "en": "fortunes",
    "de": "fortunes-de",
    "es": "fortunes-es",
    "it": "fortunes-it",
    "pl": "fortunes-pl",
    "ru": "fortunes-ru",
    "zh": "fortunes-zh",
    "pt": "fortunes-br",
}
"""The Debian package that installs each language's fortunes."""

_SKIP_SUFFIXES = (".dat", ".u8")  # index files and UTF-8 duplicates (symlinks) of the text files
_SKIP_NAMES = re.compile(r"ascii|art$|banner")  # pictures drawn with characters, not language
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_OVERSTRIKE = re.compile(r".\x08")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # stray escapes left by broken colour codes


class CorpusError(ModelError):
    """Text for a language is missing or unusable (the message says which and how to get it)."""


def parse_fortunes(text: str) -> list[str]:
    """Split a fortune file into its entries (separated by `%` lines), cleaned of terminal escapes."""
    text = _CONTROL.sub("", _OVERSTRIKE.sub("", _ANSI.sub("", text)))
    entries = re.split(r"^%\s*$", text, flags=re.MULTILINE)
    return [e.strip() for e in entries if len(e.strip()) >= 8]


def _fortune_files(entry: Path) -> list[Path]:
    if entry.is_file():
        return [entry]
    # Only the folder itself: sub-folders such as `es/off` hold the packages' offensive sections.
    return sorted(
        p
        for p in entry.iterdir()
        if p.is_file() and not p.name.endswith(_SKIP_SUFFIXES) and not _SKIP_NAMES.search(p.name)
    )


def fortune_texts(language: str, root: Path = FORTUNES_ROOT) -> list[str]:
    """The fortune entries of one language (shuffled by nothing: file order).

    Raises:
        CorpusError: an unknown language code, or its Debian package is not installed.
    """
    sources = FORTUNE_SOURCES.get(language)
    if sources is None:
        raise CorpusError(
            f"no fortunes for language {language!r}; known: {', '.join(sorted(FORTUNE_SOURCES))} "
            "(or pass a folder of text files per language)"
        )
    missing = [root / s for s in sources if not (root / s).exists()]
    if missing:
        package = FORTUNE_PACKAGES[language]
        raise CorpusError(
            f"fortunes for {language!r} not found ({missing[0]} is missing): install the Debian package "
            f"with `apt-get install {package}`, or pass a folder of text files per language"
        )
    entries: list[str] = []
    for source in sources:
        for file in _fortune_files(root / source):
            entries.extend(parse_fortunes(file.read_text(encoding="utf-8", errors="replace")))
    if not entries:
        raise CorpusError(f"the fortunes for {language!r} under {root} are empty")
    return entries


def folder_texts(folder: Path, language: str) -> list[str]:
    """The texts of `language` in a user folder: `folder/LANG/*.txt` or `folder/LANG.txt`, split on blank lines.

    Raises:
        CorpusError: neither exists, or they hold no text.
    """
    sub, single = folder / language, folder / f"{language}.txt"
    files = sorted(sub.glob("**/*.txt")) if sub.is_dir() else [single] if single.is_file() else []
    if not files:
        found = sorted(p.stem for p in folder.glob("*.txt")) + sorted(
            p.name for p in folder.iterdir() if p.is_dir()
        )
        raise CorpusError(
            f"{folder}: no text for language {language!r} (expected {sub}/*.txt or {single}); "
            f"found languages: {', '.join(found) or 'none'}"
        )
    texts: list[str] = []
    for file in files:
        try:
            content = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{file}: not UTF-8 text ({exc}); convert it with iconv") from exc
        texts.extend(p.strip() for p in re.split(r"\n\s*\n", content) if p.strip())
    if not texts:
        raise CorpusError(f"{files[0].parent}: the .txt files for {language!r} are empty")
    return texts


def load_texts(languages: list[str], source: str | Path = "fortunes") -> dict[str, list[str]]:
    """Texts per language from `source`: `"fortunes"` (Debian packages) or a folder.

    Raises:
        CorpusError: no languages, a missing folder, or a language without text.
    """
    if not languages:
        raise CorpusError("no languages given; name at least one (e.g. en,de,es,ru,zh)")
    if str(source) == "fortunes":
        return {lang: fortune_texts(lang) for lang in languages}
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise CorpusError(f"text folder {folder} does not exist (give 'fortunes' or a folder per language)")
    return {lang: folder_texts(folder, lang) for lang in languages}


def token_blocks(
    tokenizer: Any, texts: list[str], *, seq_len: int, count: int, seed: int = 0, offset: int = 0
) -> list[list[int]]:
    """`count` blocks of exactly `seq_len` token ids cut from the shuffled, joined `texts`.

    Args:
        offset: blocks to skip first (held-out evaluation text after the blocks used for scoring).

    Raises:
        CorpusError: the texts hold fewer than `offset + count` blocks.
    """
    order = list(texts)
    random.Random(seed).shuffle(order)
    ids: list[int] = []
    needed = (offset + count) * seq_len
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for text in order:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"] + eos)
        if len(ids) >= needed:
            break
    if len(ids) < needed:
        raise CorpusError(
            f"the text holds {len(ids) // seq_len} blocks of {seq_len} tokens, {offset + count} needed; "
            "use fewer samples, a shorter --seq-len, or more text"
        )
    return [ids[i * seq_len : (i + 1) * seq_len] for i in range(offset, offset + count)]
