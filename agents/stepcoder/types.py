"""Value types of the StepCoder executor: problems, per-case outcomes and program results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Difficulty = Literal["introductory", "interview", "competition", "unknown"]
IoMode = Literal["stdin", "call"]
Outcome = Literal["pass", "wrong_answer", "runtime_error", "timeout", "memory_limit", "syntax_error"]

OUTCOMES: tuple[Outcome, ...] = (
    "pass",
    "wrong_answer",
    "runtime_error",
    "timeout",
    "memory_limit",
    "syntax_error",
)


class Problem(BaseModel):
    """One APPS+/APPS problem with its unit tests."""

    model_config = ConfigDict(extra="ignore")

    problem_id: str
    """Stable id: `source_index` for APPS+ records, the folder name for the APPS layout."""
    prompt: str = ""
    """Function header plus docstring holding the problem statement."""
    canonical_solution: str = ""
    """A reference program that passes the tests (empty when the source has none)."""
    starter_code: str = ""
    """The beginning of the solution: the header the model must keep."""
    inputs: list[Any]
    """stdin mode: stdin strings. call mode: argument lists (string arguments are Python literal source)."""
    outputs: list[Any]
    """stdin mode: expected stdout strings. call mode: one-element lists holding the expected value."""
    scope: list[tuple[str, int, int]] = Field(default_factory=list)
    """`(kind, start_line, end_line)` blocks of the canonical solution, 1-based (CCCS cut points)."""
    difficulty: Difficulty = "unknown"
    io_mode: IoMode
    fn_name: str | None = None
    """Function (or `Solution` method) to call; in stdin mode the zero-argument wrapper, if any."""
    args_are_literals: bool = True
    """call mode: string arguments/outputs are Python literal source (APPS+); False for original APPS."""

    @property
    def n_cases(self) -> int:
        return len(self.inputs)


class CaseResult(BaseModel):
    """What one unit test did."""

    index: int
    outcome: Outcome
    detail: str = ""
    """Why it failed: exception line, first differing line, limit hit."""
    stderr_tail: str = ""
    """The last lines of the program's stderr for this case."""
    wall_s: float = 0.0
    cpu_s: float = 0.0


class ProgramResult(BaseModel):
    """A program run against all of a problem's tests (one sandbox execution)."""

    problem_id: str
    difficulty: Difficulty = "unknown"
    sample: int = 0
    """Which sample of this problem the program is (batch/eval runs several per problem)."""
    program_sha: str = ""
    """SHA-256 prefix of the program text (lets a resumed batch skip only identical work)."""
    cases: list[CaseResult] = Field(default_factory=list)
    reward: float = 0.0
    """StepCoder reward ladder value (see `reward.py`)."""
    passed: bool = False
    """Every unit test passed."""
    first_failure: CaseResult | None = None
    """The first failing case; it decides the reward."""
    harness_error: str | None = None
    """The harness itself could not report (sandbox crash, unreadable output); reward is 0."""
    infra_error: str | None = None
    """The program could not be run at all (the sandbox died under it or could not start, after
    retries). Not a verdict: it counts in no pass rate, pass@k or reward, is not written to a
    batch's results file, and a resumed batch runs it again."""
    coverage: list[int] | None = None
    """Lines of the program executed by at least one test, when coverage was asked for
    (a case killed by a limit contributes none: its child never reports)."""
    wall_s: float = 0.0

    @property
    def key(self) -> str:
        """`problem_id#sample`, unique within a batch."""
        return f"{self.problem_id}#{self.sample}"

    def explain(self) -> str:
        """One line saying why the program failed (or `passed`)."""
        if self.infra_error:
            return f"not run: {self.infra_error}"
        if self.harness_error:
            return f"harness error: {self.harness_error}"
        if self.passed:
            return "passed"
        f = self.first_failure
        if f is None:
            return "no test cases"
        text = f"case {f.index}: {f.outcome}"
        if f.detail:
            text += f" — {f.detail}"
        return text
