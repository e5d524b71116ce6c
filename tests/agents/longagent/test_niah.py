"""Needle-in-a-haystack builder, scoring and report."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.agents.longagent import LongAgentTeam
from phalanx.agents.longagent.chunking import RegexTokenizer
from phalanx.agents.longagent.corpus import generate_corpus, load_corpus
from phalanx.agents.longagent.niah import (
    NiahSummary,
    build_case,
    contains_match,
    exact_match,
    parse_depths,
    parse_length,
    parse_lengths,
    run_niah,
)

TOK = RegexTokenizer()
CORPUS = generate_corpus(3000, seed=3)


@settings(max_examples=25, deadline=None)
@given(length=st.integers(300, 2500), depth=st.sampled_from([0, 10, 25, 50, 75, 90, 100]))
def test_single_needle_sits_at_the_requested_depth(length, depth):
    case = build_case(length, depth, "single", corpus=CORPUS, tokenizer=TOK)
    assert case.document.count(case.needles[0].text) == 1 and case.answer in case.needles[0].text
    assert abs(case.n_tokens - length) <= 2
    actual = 100 * case.needle_token_index[0] / case.n_tokens
    # Needles go on a sentence boundary at or before the target (sentences are < 30 tokens).
    assert depth - 100 * 30 / length - 1 <= actual <= depth + 0.5
    assert case.answer not in case.document.replace(case.needles[0].text, "")


def test_multi_hop_needles_and_their_depths():
    case = build_case(4000, 25, "multi", corpus=CORPUS, tokenizer=TOK)
    hop1, hop2 = case.needles
    assert (hop1.depth, hop2.depth) == (75, 25)
    assert case.answer in hop2.text and case.answer not in hop1.text
    colour = hop2.text.split()[1]
    assert colour in hop1.text  # the first hop names the locker the second hop opens
    positions = [100 * i / case.n_tokens for i in case.needle_token_index]
    assert positions[0] == pytest.approx(75, abs=2) and positions[1] == pytest.approx(25, abs=2)


def test_user_corpus_and_errors(tmp_path):
    (tmp_path / "a.txt").write_text("One line of my own text. " * 200)
    text = load_corpus(tmp_path)
    case = build_case(500, 50, corpus=text, tokenizer=TOK)
    assert "my own text" in case.document
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "missing")
    with pytest.raises(ValueError, match="depth"):
        build_case(500, 101)
    with pytest.raises(ValueError, match="bad length"):
        parse_length("lots")
    assert parse_length("128k") == 131072 and parse_length("900") == 900


def test_generated_corpus_is_varied_and_deterministic():
    a, b = generate_corpus(2000, seed=1), generate_corpus(2000, seed=1)
    assert a == b != generate_corpus(2000, seed=2)
    sentences = a.replace("\n", " ").split(". ")
    assert len(set(sentences)) > 0.9 * len(sentences)


def test_scoring():
    assert exact_match("The 4711.", "4711") and not exact_match("code 4711", "4711")
    assert contains_match("The code is 4711.", "4711") and not contains_match("47110", "4711")
    assert not exact_match(None, "1")


async def test_run_niah_writes_results_heatmap_and_html(tmp_path):
    seen = []
    results = await run_niah(
        lambda: LongAgentTeam("scripted:longagent-reader", "scripted:longagent-reader", chunk_tokens=400),
        [1000, 3000],
        [0, 50, 100],
        "single",
        out_dir=tmp_path,
        on_result=seen.append,
    )
    assert len(results) == len(seen) == 6
    assert all(r.exact_match for r in results), [(r.prediction, r.answer) for r in results]
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {(r["length"], r["depth"]) for r in rows} == {(n, d) for n in (1000, 3000) for d in (0, 50, 100)}
    assert (tmp_path / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "mean exact_match: 1.000" in html
    # the summary `phalanx longagent niah` prints
    results[0] = results[0].model_copy(update={"exact_match": False})
    summary = NiahSummary.of(results, tmp_path)
    assert (summary.cases, summary.exact_match, summary.contains_match) == (6, 5 / 6, 1.0)
    assert summary.report == str(tmp_path / "report.html")


def test_sweep_grids_are_checked():
    assert parse_lengths("8k, 500") == [8192, 500]
    assert parse_depths("0,50,100") == [0.0, 50.0, 100.0]
    for bad in ("", ",", "0", "-1k"):
        with pytest.raises(ValueError, match="bad length"):
            parse_lengths(bad)
    for bad in ("", "101", "-5", "half"):
        with pytest.raises(ValueError, match=r"bad depths .* in \[0, 100\]"):
            parse_depths(bad)


async def test_multi_hop_takes_a_second_round(tmp_path):
    """The question names only the first hop; the leader re-instructs with its evidence."""
    results = await run_niah(
        lambda: LongAgentTeam("scripted:longagent-reader", "scripted:longagent-reader", chunk_tokens=400),
        [2000],
        [0, 100],
        "multi",
        out_dir=tmp_path,
    )
    assert [r.exact_match for r in results] == [True, True]
    assert all(r.rounds == 2 and r.status == "answered" for r in results)


def test_tiny_corpus_without_sentences_still_places_the_needle():
    case = build_case(3000, 50, corpus="lorem ipsum dolor sit amet", tokenizer=TOK)
    assert abs(case.n_tokens - 3000) <= 2
    assert 100 * case.needle_token_index[0] / case.n_tokens == pytest.approx(50, abs=1)
