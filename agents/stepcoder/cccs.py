"""CCCS: curriculum of code-completion subtasks (StepCoder; methods.md Part C §1).

For a canonical solution, each subtask's prompt is the problem plus a *prefix* of the
solution and the model completes the rest. Cuts come from the APPS+ `scope` blocks
(function/class/loop/if bodies, comprehensions), snapped to the start of the statement
that holds the block, so every prefix ends on a whole statement. The curriculum starts
with the longest prefix (the easiest subtask) and moves the cut towards the beginning
as training proceeds, ending with the full task (empty prefix). The split rule follows
the paper's description; the stage schedule is configurable because the paper's exact
thresholds were not available (methods.md Part C §1, "Exact schedule ... not verified").

Builder vs runtime: `build_subtasks` describes the tasks of one problem;
`CurriculumSchedule` is the declarative schedule and `Curriculum` its running state.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from phalanx.agents.stepcoder.types import Problem


class Subtask(BaseModel):
    """One code-completion subtask: complete `remainder` given `problem.prompt` and `prefix`."""

    model_config = ConfigDict(frozen=True)

    problem_id: str
    cut_line: int
    """1-based line of the canonical solution where the completion starts (1 = whole program)."""
    prefix: str
    """Solution lines before `cut_line`, ending with a newline (empty for the full task)."""
    remainder: str
    """The canonical continuation the model has to produce (for reference / SFT)."""
    kind: str
    """The scope kind the cut came from (`full` for the full task)."""

    @property
    def program(self) -> str:
        """prefix + canonical remainder: the canonical solution again."""
        return self.prefix + self.remainder


def source_lines(text: str) -> list[str]:
    """`text` split after each "\\n" (not `str.splitlines`, which also splits on form feeds and
    other characters Python's line numbering does not count)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def statement_starts(source: str) -> dict[int, int]:
    """For each line inside some statement, the first line of the innermost statement holding it."""
    tree = ast.parse(source)
    owner: dict[int, tuple[int, int]] = {}  # line -> (span length, start line) of innermost stmt
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            start = node.lineno
            decorators = getattr(node, "decorator_list", None)
            if decorators:  # a cut between a decorator and its def would split one statement
                start = min(d.lineno for d in decorators)
            end = node.end_lineno or node.lineno
            for line in range(start, end + 1):
                span = end - start
                if line not in owner or span < owner[line][0]:
                    owner[line] = (span, start)
    return {line: start for line, (_, start) in owner.items()}


def build_subtasks(problem: Problem) -> list[Subtask]:
    """The completion subtasks of a problem, longest prefix (easiest) first, full task last.

    Raises:
        SyntaxError: the canonical solution does not parse.
    """
    source = problem.canonical_solution
    lines = source_lines(source)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    text = "".join(lines)
    starts = statement_starts(text)
    cuts: dict[int, str] = {}
    for kind, start, _end in problem.scope:
        cut = starts.get(start)
        # A cut at line 1 is the full task, added below; lines past the end are ignored.
        if cut is not None and 1 < cut <= len(lines) and cut not in cuts:
            cuts[cut] = kind
    tasks = [
        Subtask(
            problem_id=problem.problem_id,
            cut_line=cut,
            prefix="".join(lines[: cut - 1]),
            remainder="".join(lines[cut - 1 :]),
            kind=kind,
        )
        for cut, kind in sorted(cuts.items(), reverse=True)
    ]
    tasks.append(Subtask(problem_id=problem.problem_id, cut_line=1, prefix="", remainder=text, kind="full"))
    return tasks


def completion_prompt(problem: Problem, subtask: Subtask) -> str:
    """The text a completion model continues: the problem statement, then the solution prefix."""
    return problem.prompt.rstrip("\n") + "\n\n" + subtask.prefix


class CurriculumSchedule(BaseModel):
    """When the curriculum moves its cut towards the beginning of the solution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: int = Field(4, ge=1, le=100)
    """Number of stages; stage s uses cuts in the s-th quantile band from the end of the solution."""
    advance: Literal["steps", "pass_rate"] = "steps"
    """`steps`: advance every `steps_per_stage` updates; `pass_rate`: when the recent pass rate is high enough."""
    steps_per_stage: int = Field(1000, ge=1)
    """Updates per stage when `advance="steps"`."""
    pass_rate_threshold: float = Field(0.6, gt=0, le=1)
    """Mean reward-pass rate over `window` results that moves to the next stage (`advance="pass_rate"`)."""
    window: int = Field(256, ge=1)
    """How many recent results the pass rate is computed over."""


class Curriculum:
    """Running state of a CCCS curriculum over many problems.

    Stage 0 hands out the longest-prefix subtask of each problem; the last stage hands
    out the full task. In between, stage s picks the subtask at relative position
    s / (stages - 1) of each problem's list (longest prefix first).
    """

    def __init__(self, problems: Sequence[Problem], schedule: CurriculumSchedule | None = None) -> None:
        self.schedule = schedule or CurriculumSchedule()
        self.subtasks = {p.problem_id: build_subtasks(p) for p in problems}
        self.stage = 0
        self.steps = 0
        self._recent: list[bool] = []

    @property
    def finished(self) -> bool:
        """On the last stage (full tasks)."""
        return self.stage >= self.schedule.stages - 1

    def subtask(self, problem_id: str) -> Subtask:
        """The current subtask of a problem."""
        tasks = self.subtasks[problem_id]
        last = self.schedule.stages - 1
        frac = 1.0 if last == 0 else self.stage / last
        return tasks[round(frac * (len(tasks) - 1))]

    def record(self, passed: bool) -> bool:
        """Record one training result; returns True when this moved the curriculum to the next stage."""
        s = self.schedule
        self.steps += 1
        self._recent.append(passed)
        del self._recent[: -s.window]
        if self.finished:
            return False
        if s.advance == "steps":
            ready = self.steps >= s.steps_per_stage
        else:
            ready = (
                len(self._recent) >= s.window
                and sum(self._recent) / len(self._recent) >= s.pass_rate_threshold
            )
        if ready:
            self.stage += 1
            self.steps = 0
            self._recent.clear()
        return ready
