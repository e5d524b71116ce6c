"""R³ start states, schedules, outcome reward, the GSM8K-layout loader and the arithmetic generator."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.models.trainers import (
    R3_FORMAT,
    DataFileError,
    MixedPool,
    StagedCurriculum,
    build_start_states,
    generate_word_problems,
    load_gsm8k_jsonl,
    render_question,
    write_gsm8k_jsonl,
)
from phalanx.models.trainers.r3 import OutcomeReward, outcome_reward
from phalanx.models.trainers.r3_data import demonstration_from_gsm8k

# Two records exactly as GSM8K's train.jsonl holds them (calculator annotations included).
GSM8K_LINES = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
        "May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
        "altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
        "How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = "
        "$<<0.2*50=10>>10.\n#### 10",
    },
]


@pytest.fixture
def gsm8k_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in GSM8K_LINES))
    return path


def test_start_states_of_a_gsm8k_record_follow_the_official_layout(gsm8k_file: Path) -> None:
    demo = load_gsm8k_jsonl(gsm8k_file)[0]
    assert demo.answer == "72" and len(demo.steps) == 2
    states = build_start_states(demo)
    assert [s.k for s in states] == [0, 1]
    head = R3_FORMAT.template.replace("{question}", GSM8K_LINES[0]["question"])
    # k = 0: the plain question ending in the official response marker.
    assert states[0].prompt == head and head.endswith("\n\n### Response: ")
    assert states[0].target == GSM8K_LINES[0]["answer"]
    # k = 1: the first rationale line is given; the rest and the "#### 72" line are the target.
    assert states[1].prompt == head + "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    assert (
        states[1].target == "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
    )
    for s in states:  # prompt + target is always the whole gold response
        assert s.prompt[len(head) :] + s.target == GSM8K_LINES[0]["answer"]
        assert s.answer == "72" and s.n_steps == 2


def test_render_question_keeps_braces() -> None:
    assert render_question("Is {x} = 2?").count("Is {x} = 2?") == 1


def test_staged_curriculum_moves_from_the_last_step_back_to_the_question() -> None:
    demos = generate_word_problems(6, seed=3)
    cur = StagedCurriculum(demos, threshold=0.5, window=4, steps_per_stage=100)
    assert [s.k for s in cur.current()] == [len(d.steps) - 1 for d in demos]
    assert not cur.record([0.2, 0.0])  # window not full
    assert not cur.record([0.2, 0.2])  # mean 0.15 < 0.5
    assert cur.record([1.0, 1.0, 1.0, 1.0])  # mean over the last 4 reaches the threshold
    assert cur.stage == 1
    assert [s.k for s in cur.current()] == [max(len(d.steps) - 2, 0) for d in demos]
    while not cur.finished:  # nothing but rewards of 1: every stage advances on threshold
        cur.record([1.0] * 4)
    assert cur.stage == max(len(d.steps) for d in demos) - 1
    assert all(s.k == 0 for s in cur.current())
    assert not cur.record([1.0] * 4)  # the last stage stays


def test_staged_curriculum_advances_after_its_step_budget() -> None:
    cur = StagedCurriculum(generate_word_problems(3), threshold=0.9, window=100, steps_per_stage=2)
    assert not cur.record([0.0])
    assert cur.record([0.0]) and cur.stage == 1


def test_mixed_pool_holds_every_start_state() -> None:
    demos = generate_word_problems(5, seed=1)
    pool = MixedPool(demos)
    assert len(pool.pool) == sum(len(d.steps) for d in demos)
    assert {(s.item_id, s.k) for s in pool.pool} == {
        (d.item_id, k) for d in demos for k in range(len(d.steps))
    }
    assert len(pool.sample(random.Random(0), 7)) == 7 and not pool.record([1.0])


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("Natalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", 1.0),
        ("#### 72.004", 1.0),  # official tolerance 1e-2
        ("so #### $72", 1.0),
        ("Natalia sold 70 clips.\n#### 70", 0.2),  # an answer, but wrong
        ("Natalia sold 72 clips altogether.", 0.0),  # no '####': nothing extracted
        ("", 0.0),
    ],
)
def test_outcome_reward_is_one_point_two_or_zero(completion: str, expected: float) -> None:
    assert outcome_reward(completion, "72") == expected


def test_outcome_reward_reads_thousands_separators_and_custom_values() -> None:
    assert outcome_reward("#### 1,234", "1234") == 1.0
    assert outcome_reward("#### 5", "6", values=OutcomeReward(wrong=-0.5)) == -0.5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["question", "answer"]', "expected a JSON object"),
        ('{"question": "Q?"}', "field 'answer' missing"),
        ('{"question": "Q?", "answer": "two steps, no final line"}', "no '#### <final answer>' line"),
        ('{"question": "Q?", "answer": "1+1=2\\n#### two"}', "is not a number"),
        ('{"question": "Q?", "answer": "#### 2"}', "no rationale lines"),
    ],
)
def test_loader_names_file_and_line_of_a_bad_record(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GSM8K_LINES[1]) + "\n\n" + line + "\n")
    with pytest.raises(DataFileError, match=re.escape(f"{path}:3") + ".*" + re.escape(message)):
        load_gsm8k_jsonl(path)


def test_loader_errors_on_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        load_gsm8k_jsonl(tmp_path / "absent.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataFileError, match="holds no records"):
        load_gsm8k_jsonl(tmp_path / "empty.jsonl")


def test_generated_problems_round_trip_through_the_gsm8k_layout(tmp_path: Path) -> None:
    demos = generate_word_problems(20, seed=7)
    back = load_gsm8k_jsonl(write_gsm8k_jsonl(tmp_path / "gen.jsonl", demos))
    assert back == demos
    assert load_gsm8k_jsonl(tmp_path / "gen.jsonl", limit=3) == demos[:3]


def _check_rationale(demo) -> None:
    """Each <<a op b=c>> annotation is right and the last result is the gold answer."""
    last = None
    for step in demo.steps:
        for a, op, b, c in re.findall(r"<<(\d+)([-+*/])(\d+)=(\d+)>>", step):
            a, b, c = int(a), int(b), int(c)
            assert {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op] == c, step
            last = c
    assert last is not None and str(last) == demo.answer


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_generated_rationales_compute_their_answers(seed: int) -> None:
    demos = generate_word_problems(8, seed=seed)
    assert len({d.question for d in demos}) == 8
    for demo in demos:
        assert len(demo.steps) >= 2
        _check_rationale(demo)
    assert generate_word_problems(8, seed=seed) == demos  # deterministic


def test_generated_record_parses_as_gsm8k() -> None:
    demo = generate_word_problems(1, seed=2)[0]
    record = {"question": demo.question, "answer": "\n".join(demo.steps) + f"\n#### {demo.answer}"}
    assert demonstration_from_gsm8k(record, demo.item_id, "here").steps == demo.steps
