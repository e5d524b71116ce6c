"""Chunking: non-overlapping, complete, and sized in the members' tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.agents.longagent.chunking import (
    HFTokenizer,
    RegexTokenizer,
    chunk_document,
    default_chunk_tokens,
    fill_chunk_tokens,
    resolve_chunk_tokens,
    tokenizer_for,
)

text_st = st.text(alphabet=st.sampled_from(list("abc xyz.,!\n\t0123é€")), min_size=1, max_size=400).filter(
    lambda s: s.strip()
)


@settings(max_examples=150, deadline=None)
@given(doc=text_st, size=st.integers(1, 40))
def test_chunks_partition_the_document(doc, size):
    tok = RegexTokenizer()
    chunks = chunk_document(doc, size, tok)
    assert "".join(c.text for c in chunks) == doc
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.end == nxt.start  # no overlap, no gap
    total = tok.count(doc)
    assert sum(c.n_tokens for c in chunks) == total
    assert len(chunks) == max(1, -(-total // size))
    for c in chunks[:-1]:
        assert c.n_tokens == size == tok.count(c.text)
    assert 0 < chunks[-1].n_tokens <= size or total == 0


def test_hf_tokenizer_chunks(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = HFTokenizer(AutoTokenizer.from_pretrained(tiny_model_dir))
    doc = "Alice is the mother of Bob. Ünïcode “quotes” — and numbers 12345. " * 40
    chunks = chunk_document(doc, 64, tok)
    assert "".join(c.text for c in chunks) == doc and len(chunks) > 3
    assert all(c.n_tokens == 64 for c in chunks[:-1])
    # Re-tokenising a chunk gives about chunk_tokens tokens (merges can differ at the cut).
    assert all(abs(tok.count(c.text) - 64) <= 3 for c in chunks[:-1])


def test_default_size_is_the_official_1500_and_fill_is_an_option():
    class Ctx:
        context_length = 32768

    class Small:
        context_length = 2048

    # the official chunk size (main_NeedleInAHaystack_PLUS_test.py: chunk_size = 1500), not the whole context
    assert default_chunk_tokens(Ctx()) == 1500
    assert default_chunk_tokens(object()) == 1500
    assert default_chunk_tokens(Small()) == 2048 - 768  # capped to what fits a small member
    assert resolve_chunk_tokens("fill", Ctx()) == 32768 - 768 == fill_chunk_tokens(Ctx())
    assert resolve_chunk_tokens(None, Ctx()) == 1500 and resolve_chunk_tokens(700, Ctx()) == 700
    with pytest.raises(ValueError, match="'fill' or None"):
        resolve_chunk_tokens("all", Ctx())
    assert isinstance(tokenizer_for(object()), RegexTokenizer)


@pytest.mark.parametrize("doc, size, msg", [("text", 0, "chunk_tokens"), ("   ", 5, "empty")])
def test_bad_input(doc, size, msg):
    with pytest.raises(ValueError, match=msg):
        chunk_document(doc, size)


sentences_st = st.lists(
    st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "7"]), min_size=1, max_size=9).map(
        lambda ws: " ".join(ws) + "."
    ),
    min_size=1,
    max_size=60,
).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(doc=sentences_st, size=st.integers(12, 60))
def test_sentence_aligned_chunks(doc, size):
    tok = RegexTokenizer()
    chunks = chunk_document(doc, size, tok, align="sentence")
    assert "".join(c.text for c in chunks) == doc
    assert all(0 < c.n_tokens <= size for c in chunks)
    assert sum(c.n_tokens for c in chunks) == tok.count(doc)
    # Sentences are at most 10 tokens, so a sentence start is always within a quarter chunk
    # once chunks are >= 40 tokens: every chunk but the last then ends a sentence.
    if size >= 40:
        assert all(c.text.rstrip().endswith(".") for c in chunks[:-1])
