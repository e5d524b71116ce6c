"""StepCoder's compiler-feedback reward ladder (methods.md Part C §1).

All unit tests pass: +1; wrong answer: -0.3; runtime error or timeout: -0.6;
syntax error: -1. Tests run in order and the *first failing case* decides, as in
the StepCoder-family reward code. A harness failure (the harness could not report)
scores 0; a program the sandbox could not run at all gets no reward (the error is raised),
so infrastructure trouble never pushes the policy either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from phalanx.agents.stepcoder.types import CaseResult, Outcome, Problem, ProgramResult

if TYPE_CHECKING:
    from phalanx.agents.stepcoder.executor import Executor


class RewardLadder(BaseModel):
    """Reward per outcome; the defaults are StepCoder's."""

    model_config = ConfigDict(frozen=True)

    passed: float = 1.0
    """Every unit test passed."""
    wrong_answer: float = -0.3
    """The program ran but printed/returned something else."""
    runtime_error: float = -0.6
    """An exception, a non-zero exit or a crash."""
    timeout: float = -0.6
    """A case ran past its time limit (StepCoder scores it like a runtime error)."""
    memory_limit: float = -0.6
    """A case ran out of memory (a runtime error in StepCoder's terms)."""
    syntax_error: float = -1.0
    """The program does not compile."""
    harness_error: float = 0.0
    """The sandbox could not report a result."""

    def value(self, outcome: Outcome) -> float:
        """The reward of a single outcome."""
        return self.passed if outcome == "pass" else float(getattr(self, outcome))

    def score(self, cases: Sequence[CaseResult]) -> float:
        """The reward of a run: +1 if all cases pass, else the value of the first failing case."""
        if not cases:
            return self.harness_error
        for case in sorted(cases, key=lambda c: c.index):
            if case.outcome != "pass":
                return self.value(case.outcome)
        return self.passed


DEFAULT_LADDER = RewardLadder()


def compute_reward(result: ProgramResult, ladder: RewardLadder = DEFAULT_LADDER) -> float:
    """The ladder reward of an executed program.

    Raises:
        ValueError: the program was not run (`infra_error`): it has no reward.
    """
    if result.infra_error is not None:
        raise ValueError(f"{result.key} was not run ({result.infra_error}); it has no reward")
    if result.harness_error is not None:
        return ladder.harness_error
    return ladder.score(result.cases)


RewardFn = Callable[[Problem, str], Awaitable[float]]


def make_reward_fn(executor: Executor, ladder: RewardLadder = DEFAULT_LADDER) -> RewardFn:
    """A `async (problem, program) -> float` reward function for an RL trainer.

    The trainer (in `phalanx.models`) never imports the sandbox; it takes this callable.
    Execution stops at the first failing case, since only that case decides the reward.
    A program the sandbox could not run gets no reward: `SandboxUnavailable` (`SandboxLost`)
    reaches the trainer, which skips or retries that sample.
    """

    async def reward(problem: Problem, program: str) -> float:
        result = await executor.run(problem, program, stop_on_failure=True)
        return compute_reward(result, ladder)

    return reward
