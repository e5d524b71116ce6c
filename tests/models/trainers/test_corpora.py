"""Multilingual text: fortune files parse into clean entries, user folders load per language, and every
missing or unusable source is a `CorpusError` that says what to install or pass."""

from __future__ import annotations

import pytest

from phalanx.models.trainers import CorpusError, load_texts, token_blocks
from phalanx.models.trainers.corpora import FORTUNE_SOURCES, FORTUNES_ROOT, fortune_texts, parse_fortunes


def test_parse_fortunes_splits_on_percent_lines_and_strips_terminal_codes() -> None:
    text = "\x1b[32mFirst\x1b[m entry\nsecond line\n%\nshort\n%\nB\x08Bold words here\n%\n"
    assert parse_fortunes(text) == ["First entry\nsecond line", "Bold words here"]


def test_user_folder_per_language(tmp_path) -> None:
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "a.txt").write_text("one paragraph\n\nanother paragraph\n")
    (tmp_path / "yy.txt").write_text("single file language")
    assert load_texts(["xx", "yy"], tmp_path) == {
        "xx": ["one paragraph", "another paragraph"],
        "yy": ["single file language"],
    }
    with pytest.raises(CorpusError, match=r"no text for language 'zz'.*found languages: yy, xx"):
        load_texts(["zz"], tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CorpusError, match="not UTF-8 text"):
        load_texts(["bad"], tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_texts(["xx"], tmp_path / "missing")
    with pytest.raises(CorpusError, match="no languages given"):
        load_texts([], tmp_path)


def test_missing_fortunes_name_the_debian_package(tmp_path) -> None:
    with pytest.raises(CorpusError, match=r"apt-get install fortunes-ru"):
        fortune_texts("ru", root=tmp_path)
    with pytest.raises(CorpusError, match="no fortunes for language 'xx'; known: de, en"):
        fortune_texts("xx")


def test_token_blocks_are_exact_and_refuse_too_little_text(tiny_model_dir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["the quick brown fox jumps over the lazy dog"] * 30
    blocks = token_blocks(tokenizer, texts, seq_len=8, count=5)
    assert len(blocks) == 5 and all(len(b) == 8 for b in blocks)
    later = token_blocks(tokenizer, texts, seq_len=8, count=2, offset=5)
    assert later == token_blocks(tokenizer, texts, seq_len=8, count=7)[5:]
    with pytest.raises(CorpusError, match="blocks of 8 tokens, 1000 needed"):
        token_blocks(tokenizer, texts, seq_len=8, count=1000)


def test_debian_fortunes_load_in_every_language() -> None:
    if not FORTUNES_ROOT.is_dir():
        pytest.skip("Debian fortunes are not installed (in CI, .ci/setup installs them)")
    texts = load_texts(sorted(FORTUNE_SOURCES))
    for language, entries in texts.items():
        assert len(entries) > 100, language
        assert not any("\x1b" in e or "\x08" in e for e in entries)
    assert any("的" in e for e in texts["zh"]) and any("и" in e for e in texts["ru"])
    assert any("ß" in e or "ü" in e for e in texts["de"]) and any("ñ" in e for e in texts["es"])


def test_importing_the_trainers_package_does_not_import_torch() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, phalanx.models.trainers as t; t.__all__; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
