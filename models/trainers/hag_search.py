"""HAG's per-sample search for the best decoding configuration: prune a coarse grid, then refine greedily.

Wang et al. 2024 ("LLM can Achieve Self-Regulation via Hyperparameter Aware Generation")
build their hyperparameter-aware instruction-tuning set by searching, for each sample, the
decoding hyperparameters that score best on the task's metric, in two stages: pruning,
then greedy search. No official code exists; phalanx's reading:

1. Coarse grid (`SearchSpace`): greedy decoding, and sampling over a grid of
   temperature × top_p × top_k, each with every repetition penalty. Every grid point is
   scored (mean metric over `generations` replies; greedy needs one) and all but the best
   `keep` are pruned.
2. Greedy refinement: from each survivor, hill climbing over single-hyperparameter moves
   (± its step, within `BOUNDS`); each pass moves to the best neighbour if it raises the
   score, and the steps halve once when no move helps. The best configuration seen wins; ties go to
   the one found first, so greedy decoding (first in the grid) wins when nothing is better.

`search_config` takes the scoring function, so the algorithm is independent of any model.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

from phalanx.models.hag import BOUNDS, HagConfig

Evaluate = Callable[[HagConfig], Awaitable[float]]
"""Score of a configuration on one sample (higher is better), as the task's metric says."""

_STEPS = {"temperature": 0.2, "top_p": 0.1, "top_k": 20, "repetition_penalty": 0.1}
"""Refinement step per hyperparameter (halved once when no move helps)."""


class SearchSpace(BaseModel):
    """The coarse grid and the search budget (defaults: 25 grid points, sized for a small model on a CPU)."""

    temperatures: list[float] = [0.3, 0.7, 1.0]
    top_ps: list[float] = [0.8, 1.0]
    top_ks: list[int] = [0, 40]
    repetition_penalties: list[float] = [1.0, 1.2]
    max_new_tokens: int = Field(64, ge=1)
    """Reply length of every configuration (the task's answer budget; not searched)."""
    keep: int = Field(3, ge=1)
    """Grid points surviving the pruning stage."""
    rounds: int = Field(3, ge=0)
    """Refinement passes over the hyperparameters per survivor (0: pruning only)."""
    max_evaluations: int = Field(60, ge=1)
    """Configurations scored per sample, at most (grid included)."""


def config_key(config: HagConfig) -> tuple[Any, ...]:
    """Identity of a configuration for caching (greedy ignores the sampling knobs)."""
    if config.strategy == "greedy":
        return ("greedy", round(config.repetition_penalty, 3), config.max_new_tokens)
    return (
        "sample",
        round(config.temperature, 3),
        round(config.top_p, 3),
        config.top_k,
        round(config.repetition_penalty, 3),
        config.max_new_tokens,
    )


def coarse_grid(space: SearchSpace) -> list[HagConfig]:
    """Greedy decoding (with each repetition penalty), then every sampling grid point."""
    grid = [
        HagConfig(
            strategy="greedy",
            temperature=0.0,
            top_p=1.0,
            top_k=0,
            repetition_penalty=r,
            max_new_tokens=space.max_new_tokens,
        )
        for r in space.repetition_penalties
    ]
    for t, p, k, r in itertools.product(
        space.temperatures, space.top_ps, space.top_ks, space.repetition_penalties
    ):
        grid.append(
            HagConfig(
                strategy="sample",
                temperature=t,
                top_p=p,
                top_k=k,
                repetition_penalty=r,
                max_new_tokens=space.max_new_tokens,
            )
        )
    return grid


def _neighbours(config: HagConfig, scale: float) -> list[HagConfig]:
    keys = ["repetition_penalty"] if config.strategy == "greedy" else list(_STEPS)
    found = []
    for key in keys:
        for sign in (1, -1):
            low, high = BOUNDS[key]
            value = getattr(config, key) + sign * _STEPS[key] * scale
            value = int(round(value)) if key == "top_k" else round(value, 3)
            if low <= value <= high and value != getattr(config, key):
                found.append(config.model_copy(update={key: value}))
    return found


class SearchResult(BaseModel):
    """The best configuration for one sample and how the search got there."""

    best: HagConfig
    score: float
    default_score: float
    """Score of the first grid point (greedy decoding: the paper's "default" baseline)."""
    evaluations: int
    """Configurations scored."""
    pruned_to: list[float]
    """Scores of the grid survivors (best first)."""


async def search_config(evaluate: Evaluate, space: SearchSpace | None = None) -> SearchResult:
    """Find the best decoding configuration for one sample (coarse grid, pruning, greedy refinement).

    The grid points, and each pass's neighbours, are scored concurrently (a batching
    backend decodes them together); a pass moves to its best neighbour if that beats the
    current configuration.
    """
    space = space or SearchSpace()
    scores: dict[tuple[Any, ...], float] = {}
    order: list[HagConfig] = []

    async def score_all(configs: list[HagConfig]) -> None:
        fresh: dict[tuple[Any, ...], HagConfig] = {}
        for config in configs:
            key = config_key(config)
            if key not in scores and key not in fresh and len(scores) + len(fresh) < space.max_evaluations:
                fresh[key] = config
        values = await asyncio.gather(*(evaluate(c) for c in fresh.values()))
        for (key, config), value in zip(fresh.items(), values, strict=True):
            scores[key] = float(value)
            order.append(config)

    grid = coarse_grid(space)
    await score_all(grid)
    # Stable sort: among equal scores the earlier grid point (greedy first) survives.
    survivors = sorted(order, key=lambda c: -scores[config_key(c)])[: space.keep]
    for start in survivors:
        current, scale = start, 1.0
        for _ in range(space.rounds * 2):  # each halving of the step spends one pass
            candidates = _neighbours(current, scale)
            await score_all(candidates)
            graded = [c for c in candidates if config_key(c) in scores]
            best_move = max(graded, key=lambda c: scores[config_key(c)], default=None)
            if best_move is not None and scores[config_key(best_move)] > scores[config_key(current)]:
                current = best_move
            elif scale < 1.0:
                break
            else:
                scale = 0.5
    best = max(order, key=lambda c: scores[config_key(c)])  # max keeps the first of equals
    return SearchResult(
        best=best,
        score=scores[config_key(best)],
        default_score=scores[config_key(grid[0])],
        evaluations=len(scores),
        pruned_to=[scores[config_key(c)] for c in survivors],
    )
