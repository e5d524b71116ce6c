"""The StepCoder reward ladder: +1 / -0.3 / -0.6 / -1, first failing case decides."""

from __future__ import annotations

import pytest

from phalanx.agents.stepcoder import CaseResult, ProgramResult, RewardLadder, compute_reward


def cases(*outcomes: str) -> list[CaseResult]:
    return [CaseResult(index=i, outcome=o) for i, o in enumerate(outcomes)]


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (("pass", "pass"), 1.0),
        (("pass", "wrong_answer"), -0.3),
        (("runtime_error",), -0.6),
        (("pass", "timeout"), -0.6),
        (("memory_limit",), -0.6),
        (("syntax_error", "syntax_error"), -1.0),
        # The first failing case decides, even when a later one is worse or better.
        (("wrong_answer", "syntax_error"), -0.3),
        (("pass", "runtime_error", "wrong_answer"), -0.6),
    ],
)
def test_ladder_levels(outcomes, expected):
    assert RewardLadder().score(cases(*outcomes)) == pytest.approx(expected)


def test_order_is_by_case_index_not_list_order():
    shuffled = [CaseResult(index=1, outcome="wrong_answer"), CaseResult(index=0, outcome="timeout")]
    assert RewardLadder().score(shuffled) == pytest.approx(-0.6)


def test_harness_error_scores_zero_and_custom_ladder():
    res = ProgramResult(problem_id="x", cases=cases("pass"), harness_error="sandbox crashed")
    assert compute_reward(res) == 0.0
    ladder = RewardLadder(wrong_answer=-0.5)
    assert compute_reward(ProgramResult(problem_id="x", cases=cases("wrong_answer")), ladder) == -0.5
    assert ladder.score([]) == 0.0
