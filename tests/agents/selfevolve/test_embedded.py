"""The embedded datasets: size, determinism, and every answer re-derived by the independent solvers."""

from __future__ import annotations

import pytest

from phalanx.agents.selfevolve.embedded import generate_arithmetic, generate_kinship, load_embedded
from phalanx.agents.selfevolve.reframe import reference_answer, reframe, wrong_option
from phalanx.agents.selfevolve.solvers import solve_arithmetic, solve_kinship
from phalanx.agents.selfevolve.types import Mode


def test_kinship_answers_match_independent_solver() -> None:
    data = generate_kinship(240, seed=0)
    assert len(data) >= 200
    assert len({(d.context, d.question) for d in data}) == len(data)
    for inst in data:
        assert solve_kinship(inst.context, inst.question) == inst.answer, inst
    # the set covers multi-hop compositions, not only direct relations
    assert {"uncle", "aunt", "nephew", "niece", "grandfather", "cousin"} & {d.answer for d in data}


def test_arithmetic_answers_match_independent_evaluator() -> None:
    data = generate_arithmetic(240, seed=0)
    assert len(data) >= 200
    for inst in data:
        assert str(solve_arithmetic(inst.context, inst.question)) == inst.answer, inst
        assert int(inst.answer) >= 0


@pytest.mark.parametrize("name", ["kinship", "arithmetic"])
def test_deterministic_by_seed(name: str) -> None:
    a, b, c = (
        load_embedded(name, n=30, seed=1),
        load_embedded(name, n=30, seed=1),
        load_embedded(name, n=30, seed=2),
    )
    assert a == b
    assert a != c


def test_unknown_embedded_name_lists_choices() -> None:
    with pytest.raises(ValueError, match="arithmetic, kinship"):
        load_embedded("clutrr")


@pytest.mark.parametrize("name", ["kinship", "arithmetic"])
def test_scripted_reframings_are_correct_for_every_mode(name: str) -> None:
    for inst in load_embedded(name, n=240, seed=0)[::4]:
        for mode in Mode:
            out = reframe(inst.context, inst.question, inst.answer, mode)
            assert out is not None, (inst.id, mode)
            context = out.get("new_context", inst.context)
            question = out.get("new_question", inst.question)
            answer = out.get("new_answer", inst.answer)
            assert reference_answer(context, question) == answer, (inst.id, mode, out)
            if mode in (Mode.PARAPHRASE, Mode.NOISE):
                assert context != inst.context
            if mode == Mode.POLARITY:
                assert answer != inst.answer
            if mode.is_sub_ability:
                assert inst.question in question
            wrong = wrong_option(context, question, answer)
            assert wrong != answer
