"""The official evaluation: per-dataset 2-shot chats, the A/B probe prompt and the lenient judges."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from phalanx.agents.selfevolve import evolve_dataset, load_instances, parse_modes
from phalanx.agents.selfevolve.datasets import read_jsonl
from phalanx.agents.selfevolve.evaluate import build_items
from phalanx.agents.selfevolve.official import demonstrations, evaluation_messages
from phalanx.agents.selfevolve.official.judges import judge_choice, judge_kinship, judge_number, judge_yes_no
from phalanx.agents.selfevolve.types import Mode

DATA = Path(__file__).parent / "data"


def test_evaluation_chat_is_the_official_two_shot_prompt() -> None:
    (lemon, *_) = read_jsonl(DATA / "gsm8k_sample.jsonl")
    chat = evaluation_messages(lemon.task, lemon.context, lemon.question)
    assert [m.role for m in chat] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert chat[0].content == "Answer the following math questions using as short language as possible."
    assert chat[2].content.endswith("The answer is 10.")
    assert chat[-1].content == f"Context: {lemon.context}\nQuestion: {lemon.question}"
    (albany, *_) = read_jsonl(DATA / "strategyqa_sample.jsonl")
    chat = evaluation_messages(albany.task, albany.context, albany.question)
    assert "conclude with yes or no" in chat[0].content and chat[-1].content == f"Question: {albany.question}"
    (lewis, *_) = read_jsonl(DATA / "clutrr_sample.jsonl")
    assert (
        "Conclusion: [relationship]"
        in evaluation_messages(lewis.task, lewis.context, lewis.question)[0].content
    )
    probe = evaluation_messages("kinship", lewis.context, "Which rules are needed?", ["one's", "two's"])
    assert probe[0].content.endswith("Just output 'B' or 'A' without adding any other words.")
    assert probe[1].content.endswith("\nA. one's\nB. two's")
    assert evaluation_messages("generic", "c", "q") is None  # no official dataset: phalanx's own template


def test_number_judge_reads_the_last_two_numbers() -> None:
    assert judge_number("26", "Dividing both sides by .75, we get X = $26.")
    assert judge_number("243", "3 * (16.50 + 22.50 + 42) = 243. The answer is 243.")
    assert judge_number("2", "The answer is 2 boxes, costing $17 in total.")  # one of the last two
    assert not judge_number("2", "He pays $17 for 3 boxes and 1 more.")


def test_yes_no_judge_extracts_the_word() -> None:
    assert judge_yes_no("no", "Albany, GA has about 75,000 people. The answer is no.")
    assert judge_yes_no("yes", "yes")
    assert not judge_yes_no("yes", "The answer is no.")
    assert not judge_yes_no("yes", "That is incorrect.")  # "correct" must be a word


def test_kinship_judge_uses_the_synonym_map() -> None:
    assert judge_kinship("grandson", "Jason is the father of their father.\nConclusion: Grandson")
    assert judge_kinship("grandson", "So Lewis is his grandchild.\nConclusion: grandchild")
    assert judge_kinship("mother-in-law", "...\nConclusion: Mother-in-law")
    assert judge_kinship("daughter", "...\nConclusion: stepdaughter")
    assert not judge_kinship("grandson", "Conclusion: Grandson\nI am not sure.")  # the last line decides
    assert not judge_kinship("grandson", "...\nConclusion: Brother")


def test_choice_judge() -> None:
    assert judge_choice("B", "B") and judge_choice("A", "The answer is A.") and judge_choice("A", "(A)")
    assert not judge_choice("A", "B") and not judge_choice("B", "")


def test_demonstrations_per_role_task_and_mode() -> None:
    (instance, replies), *_ = demonstrations("generator", "kinship", Mode.NOISE)
    assert instance["question"] == "What is Molly's role in Marian's life?" and "new_context" in replies[0]
    assert len(demonstrations("generator", "kinship", Mode.PLANNING)[0][1]) == 3  # all steps, first, second
    assert demonstrations("verifier", "commonsense", Mode.KNOWLEDGE)
    assert demonstrations("generator", "commonsense", Mode.PARAPHRASE) == []  # none upstream
    assert demonstrations("option", "arithmetic", Mode.NOISE)[0][1] == [{"option": "$100"}]


@pytest.mark.parametrize("name", ["kinship", "arithmetic"])
def test_embedded_sets_are_scored_with_the_official_prompts(tmp_path: Path, name: str) -> None:
    data = load_instances(f"embedded:{name}", limit=3)
    asyncio.run(
        evolve_dataset(
            data,
            parse_modes("paraphrase,planning"),
            "scripted:evolve-generator",
            "scripted:evolve-verifier",
            tmp_path,
        )
    )
    items = build_items(tmp_path)
    assert items and all(i.official for i in items)
    probe = next(i for i in items if i.mode == "planning")
    assert "Just output 'B' or 'A'" in probe.messages[0].content and probe.kind == "choice"
    original = next(i for i in items if i.mode == "original")
    assert len(original.messages) == 6 and original.messages[-1].content.startswith("Context: ")
