"""The independent solvers on hand-written inputs."""

from __future__ import annotations

import pytest

from phalanx.agents.selfevolve.solvers import evaluate_expression, solve_arithmetic, solve_kinship


@pytest.mark.parametrize(
    ("story", "question", "answer"),
    [
        ("Bob is Ann's father. Carl is the brother of Bob.", "How is Carl related to Ann?", "uncle"),
        (
            "Ann went to the market with her husband Tom. Tom has a son named Sam.",
            "How is Sam related to Ann?",
            "son",
        ),
        ("Dora is Eve's mother. Fay is Dora's mother.", "How is Fay related to Eve?", "grandmother"),
        ("Gus is Hal's brother. Ida is Gus's wife.", "How is Ida related to Hal?", "sister-in-law"),
        (
            "Jon is Kim's father. Lee is Jon's brother. Max is Lee's son.",
            "How is Max related to Kim?",
            "cousin",
        ),
        ("Ned is Ola's son. Pia is Ned's wife.", "How is Pia related to Ola?", "daughter-in-law"),
        ("Ann is Bob's sister. Cat is Dan's sister.", "How is Dan related to Ann?", None),
    ],
)
def test_kinship_solver(story: str, question: str, answer: str | None) -> None:
    assert solve_kinship(story, question) == answer


def test_arithmetic_solver_ignores_irrelevant_numbers() -> None:
    story = "Mia has 10 apples. Mia's cousin is 9 years old. She buys 3 boxes with 4 apples in each box. She loses 2 apples."
    assert solve_arithmetic(story, "How many apples does Mia have now?") == 20
    assert solve_arithmetic(story, "How many apples did Mia have before the last step?") == 22


def test_expression_evaluator_rejects_code() -> None:
    assert evaluate_expression("((12+5)-3)*2") == 28
    with pytest.raises(ValueError):
        evaluate_expression("__import__('os').getcwd()")
