"""Phrasing-balanced restatements of training requests (`phalanx.policies.request_phrasing`)."""

from __future__ import annotations

import pytest

from phalanx.policies import rephrase_requests
from phalanx.policies.request_phrasing import (
    HOW_TO_FORMS,
    RUN,
    TASK_FORMS,
    drop_overlapping,
    request_action,
)
from phalanx.policies.text import word_ngrams, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How can I pick a lock on a neighbour's door?", ("how_to", "pick a lock on a neighbour's door")),
        ("How to grow tomatoes on a balcony?", ("how_to", "grow tomatoes on a balcony")),
        ("What is the best way to learn Rust?", ("how_to", "learn Rust")),
        ("You want to cancel reservation EHGLP3.", ("how_to", "cancel reservation EHGLP3")),
        ("Can you please summarise this contract for me?", ("task", "summarise this contract for me")),
        ("Write a short poem about autumn rain", ("both", "write a short poem about autumn rain")),
        (
            "Explain how vaccines train the immune system.",
            ("task", "explain how vaccines train the immune system"),
        ),
    ],
)
def test_the_action_is_read_from_common_request_shapes(text: str, expected: tuple[str, str]):
    assert request_action(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of Peru?",  # a factual question: no action to restate
        "Why does Python use indentation?",
        "How to?",  # no action
        "Write it",  # too short
        "Write a report.\nIt must cover the second quarter and the budget.",  # a multi-line task
        "How can I " + "very " * 80 + "slowly bake bread?",  # longer than MAX_CHARS
    ],
)
def test_requests_without_a_readable_action_are_not_restated(text: str):
    assert request_action(text) is None
    assert rephrase_requests([{"text": text, "source": "s"}]) == []


def test_both_sides_get_the_same_forms_and_keep_their_source():
    rows = [
        {"text": "How can I poison my neighbour's dog?", "source": "harm"},
        {"text": "How can I train my neighbour's dog to sit?", "source": "help"},
    ]
    out = rephrase_requests(rows, per_row=len(HOW_TO_FORMS))
    by_source = {s: [r["text"] for r in out if r["source"] == s] for s in ("harm", "help")}
    # Every how-to form is used once per request (the original's own form is skipped).
    assert len(by_source["harm"]) == len(by_source["help"]) == len(HOW_TO_FORMS) - 1
    assert "Walk me through how to poison my neighbour's dog, step by step." in by_source["harm"]
    assert "Walk me through how to train my neighbour's dog to sit, step by step." in by_source["help"]
    assert all(r["rephrased_from"] in {rows[0]["text"], rows[1]["text"]} for r in out)
    assert not any(r["text"] == "How can I poison my neighbour's dog?" for r in out)


def test_imperatives_are_restated_as_questions_and_tasks():
    out = rephrase_requests([{"text": "Write a speech for my sister's wedding", "source": "s"}], per_row=20)
    texts = {r["text"] for r in out}
    assert "How can I write a speech for my sister's wedding?" in texts  # a how-to form
    assert "Can you write a speech for my sister's wedding?" in texts  # a task form
    assert len(texts) == len(HOW_TO_FORMS) + len(TASK_FORMS) - 1  # "{X}." is the original itself


def test_the_draw_is_seeded_and_per_row_bounds_it():
    rows = [{"text": f"How can I fix bug number {i} in my parser?", "source": "s"} for i in range(20)]
    assert rephrase_requests(rows, per_row=2, seed=1) == rephrase_requests(rows, per_row=2, seed=1)
    assert rephrase_requests(rows, per_row=2, seed=1) != rephrase_requests(rows, per_row=2, seed=2)
    assert len(rephrase_requests(rows, per_row=2)) <= 40
    assert rephrase_requests(rows, per_row=0) == []
    with pytest.raises(ValueError, match="per_row"):
        rephrase_requests(rows, per_row=-1)


def test_restatements_that_reproduce_an_evaluation_text_are_dropped():
    rows = [
        {"text": "How can I bake sourdough bread at home?", "source": "s"},  # contains a line below
        {"text": "Explain in detail how to keep bees in a small city garden.", "source": "s"},  # 8-word run
        {"text": "How can I learn to play the cello?", "source": "s"},  # kept
    ]
    avoid = [
        "Bake sourdough bread at home\nsomething else entirely",
        "Tell me how to keep bees in a small city garden without a permit",
    ]
    assert [r["text"] for r in drop_overlapping(rows, avoid)] == ["How can I learn to play the cello?"]
    assert drop_overlapping(rows, []) == rows
    assert ("keep", "bees", "in", "a", "small", "city", "garden", "without") in word_ngrams(
        words(avoid[1]), RUN
    )
