"""CCCS: cut points from `scope` on every problem of the sample; curriculum schedule."""

from __future__ import annotations

import ast
import io
import tokenize

import pytest

from phalanx.agents.stepcoder import (
    Curriculum,
    CurriculumSchedule,
    Problem,
    build_subtasks,
    completion_prompt,
    load_problems,
)


def ends_on_statement_boundary(prefix: str) -> bool:
    """The prefix tokenizes on its own: no open bracket, string or backslash continuation at the cut."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(prefix).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return False
    meaningful = [
        t for t in toks if t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.DEDENT, tokenize.ENDMARKER)
    ]
    return not meaningful or meaningful[-1].type == tokenize.NEWLINE


def test_cut_points_on_every_problem_of_the_sample(sample_path):
    problems = load_problems(sample_path)
    with_cuts = 0
    for p in problems:
        tasks = build_subtasks(p)
        canonical = ast.dump(ast.parse(p.canonical_solution))
        cuts = [t.cut_line for t in tasks]
        assert cuts == sorted(set(cuts), reverse=True), p.problem_id  # longest prefix first, no repeats
        assert tasks[-1].prefix == "" and tasks[-1].kind == "full"
        with_cuts += len(tasks) > 1
        for t in tasks:
            # prefix + canonical remainder re-parses to the canonical solution ...
            assert ast.dump(ast.parse(t.prefix + t.remainder)) == canonical, (p.problem_id, t.cut_line)
            # ... and the cut is a sensible one: whole lines, ending on a complete statement.
            assert t.prefix == "" or t.prefix.endswith("\n")
            assert ends_on_statement_boundary(t.prefix), (p.problem_id, t.cut_line, t.prefix[-80:])
            assert completion_prompt(p, t).endswith(t.prefix)
    assert with_cuts >= 250  # nearly every APPS+ solution has scope blocks to cut at


def test_cut_snaps_to_the_statement_that_holds_a_scope_block():
    solution = "def f(xs):\n    total = sum(\n        [x * 2 for x in xs]\n    )\n    return total\n"
    p = Problem(
        problem_id="c",
        io_mode="call",
        inputs=[[[1]]],
        outputs=[[2]],
        canonical_solution=solution,
        scope=[["Function Body", 1, 5], ["List Comprehension", 3, 3]],
    )
    tasks = build_subtasks(p)
    # The comprehension on line 3 sits inside the statement starting on line 2: the cut goes there.
    assert [t.cut_line for t in tasks] == [2, 1]
    assert tasks[0].prefix == "def f(xs):\n" and tasks[0].remainder.startswith("    total = sum(")


def make_problems(n: int) -> list[Problem]:
    body = "def f(x):\n    y = x\n    for i in range(3):\n        y += i\n    if y:\n        y -= 1\n    return y\n"
    scope = [["Function Body", 1, 7], ["For Loop Body", 3, 4], ["If Statement Body", 5, 6]]
    return [
        Problem(
            problem_id=str(i),
            io_mode="call",
            inputs=[[1]],
            outputs=[[3]],
            canonical_solution=body,
            scope=scope,
        )
        for i in range(n)
    ]


def test_curriculum_advances_by_steps_from_longest_prefix_to_full_task():
    cur = Curriculum(make_problems(2), CurriculumSchedule(stages=3, advance="steps", steps_per_stage=2))
    seen = []
    for _ in range(8):
        seen.append(cur.subtask("0").cut_line)
        cur.record(passed=False)
    assert seen == [5, 5, 3, 3, 1, 1, 1, 1]
    assert cur.finished


def test_curriculum_advances_on_pass_rate():
    sched = CurriculumSchedule(stages=2, advance="pass_rate", window=4, pass_rate_threshold=0.75)
    cur = Curriculum(make_problems(1), sched)
    for passed in (True, False, True, False, True, False):
        assert cur.record(passed) is False
    assert cur.stage == 0
    # Window [F, T, F, T] is 0.5; one more pass makes [T, F, T, T] = 0.75 and the stage moves.
    moved = [cur.record(True) for _ in range(3)]
    assert moved == [False, True, False]
    assert cur.stage == 1 and cur.finished and cur.subtask("0").prefix == ""


def test_schedule_is_validated():
    with pytest.raises(ValueError):
        CurriculumSchedule(stages=0)
