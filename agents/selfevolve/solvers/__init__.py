"""Independent solvers for the embedded datasets (used to check their answers and by scripted agents)."""

from phalanx.agents.selfevolve.solvers.arithmetic import evaluate_expression, problem_steps, solve_arithmetic
from phalanx.agents.selfevolve.solvers.kinship import build_family, parse_story, solve_kinship

__all__ = [
    "build_family",
    "evaluate_expression",
    "parse_story",
    "problem_steps",
    "solve_arithmetic",
    "solve_kinship",
]
