"""JSONL loading: the phalanx layout, the GSM8K/StrategyQA/CLUTRR/BoolQ mappings, and malformed lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx.agents.selfevolve.datasets import DatasetError, load_instances, read_jsonl


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_phalanx_layout_and_default_ids(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "mine.jsonl",
        [{"context": "c", "question": "q?", "answer": 3}, {"id": "x", "question": "q2?", "answer": True}],
    )
    a, b = read_jsonl(p)
    assert (a.id, a.answer, a.context) == ("mine-1", "3", "c")
    assert (b.id, b.answer, b.context) == ("x", "yes", "")
    (c,) = read_jsonl(_write(tmp_path / "b.jsonl", [{"context": "kept", "question": "q?", "answer": False}]))
    assert (c.context, c.answer) == ("kept", "no")


def test_gsm8k_mapping(tmp_path: Path) -> None:
    row = {
        "question": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?",
        "answer": "2/2 = 1 ... #### 1,003",
    }
    (inst,) = read_jsonl(_write(tmp_path / "g.jsonl", [row]))
    assert inst.context == "A robe takes 2 bolts of blue fiber and half that much white fiber."
    assert inst.question == "How many bolts in total does it take?"
    assert (inst.answer, inst.task) == ("1003", "arithmetic")


def test_strategyqa_and_boolq_mappings(tmp_path: Path) -> None:
    s = {
        "qid": "s1",
        "question": "Can a goldfish drive?",
        "answer": False,
        "facts": ["Fish have no hands.", "Cars need hands."],
    }
    b = {"question": "is the sky blue", "answer": True, "passage": "The sky looks blue.", "title": "Sky"}
    s_inst, b_inst = read_jsonl(_write(tmp_path / "m.jsonl", [s, b]))
    # StrategyQA is commonsense from the question alone (the official setting): no gold facts shown
    assert (s_inst.id, s_inst.answer, s_inst.context, s_inst.task) == ("s1", "no", "", "commonsense")
    assert (b_inst.question, b_inst.answer, b_inst.context, b_inst.task) == (
        "Is the sky blue?",
        "yes",
        "The sky looks blue.",
        "boolean",
    )


DATA = Path(__file__).parent / "data"  # real records from the official repository (SOURCE.md)


def test_gsm8k_decimal_prices_stay_whole_on_real_records() -> None:
    lemon, book, marie, mishka = read_jsonl(DATA / "gsm8k_sample.jsonl")
    assert lemon.context.endswith(
        "which he can sell for $1.5 each. It costs $3 a year to water and feed the tree."
    )
    assert lemon.question == "How many years will it take before he starts earning money on the lemon tree?"
    assert (
        book.context
        == "Kyle bought last year's best-selling book for $19.50. This is with a 25% discount from the original price."
    )
    assert book.question == "What was the original price of the book?"
    assert (
        marie.context.startswith("Marie ordered one chicken meal that costs $12")
        and "$1.50 each" in marie.context
    )
    assert marie.question == "How many boxes of pizza did Marie order if each box costs $8.50?"
    assert mishka.context.endswith("One pair of pants costs $22.50 and one pair of shoes costs $42.")
    assert (mishka.answer, mishka.task) == ("243", "arithmetic")
    # the old any-dot split cut prices in two
    assert "$1. 5" not in " ".join(i.context + i.question for i in (lemon, book, marie, mishka))


def test_strategyqa_clutrr_boolq_real_records() -> None:
    albany, *_ = read_jsonl(DATA / "strategyqa_sample.jsonl")
    assert (albany.context, albany.task, albany.answer) == ("", "commonsense", "no")
    assert albany.question.startswith("Will the Albany in Georgia")
    lewis, *_ = read_jsonl(DATA / "clutrr_sample.jsonl")
    assert (lewis.task, lewis.answer, lewis.question) == (
        "kinship",
        "grandson",
        "What is Lewis's role in Jason's life?",
    )
    assert lewis.context == "[Scott] and [Lewis] are brothers. [Jason] is father of their father"
    ncis, _ = read_jsonl(DATA / "boolq_sample.jsonl")
    assert (
        ncis.task == "boolean"
        and ncis.context.startswith("NCIS: New Orleans")
        and ncis.answer in ("yes", "no")
    )


@pytest.mark.parametrize(
    ("rows", "layout", "pattern"),
    [
        ([{"question": "q"}, "{bad json"], "auto", r"bad\.jsonl:1: missing field 'answer'"),
        ([{"question": "q", "answer": "a"}, "{bad json"], "auto", r"bad\.jsonl:2: not valid JSON"),
        ([[1, 2]], "auto", r"bad\.jsonl:1: expected a JSON object"),
        ([{"question": 5, "answer": "a"}], "phalanx", r"bad\.jsonl:1: field 'question' must be str"),
        ([{"question": "q", "answer": "42"}], "gsm8k", r"bad\.jsonl:1: field 'answer' has no '####"),
        (
            [{"id": "a", "question": "q", "answer": "1"}, {"id": "a", "question": "q", "answer": "2"}],
            "auto",
            r"bad\.jsonl:2: field 'id' 'a' repeats line 1",
        ),
        ([{"question": "q", "answer": "yes", "passage": 3}], "boolq", r"field 'passage' must be str"),
        (
            [{"story": "[A] met [B].", "query": "Who?"}],
            "clutrr",
            r"missing field 'answer' \(CLUTRR layout: answer or target",
        ),
    ],
)
def test_malformed_lines_name_file_line_and_field(
    tmp_path: Path, rows: list[object], layout: str, pattern: str
) -> None:
    p = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DatasetError, match=pattern):
        read_jsonl(p, layout)  # type: ignore[arg-type]


def test_missing_file_and_embedded(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset file"):
        load_instances(tmp_path / "nope.jsonl")
    assert len(load_instances("embedded:kinship", limit=7)) == 7
    with pytest.raises(DatasetError, match="unknown embedded dataset"):
        load_instances("embedded:nope")
