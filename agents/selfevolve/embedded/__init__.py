"""Offline datasets phalanx generates itself, with answers checked by `solvers/`.

Load them as `embedded:kinship` or `embedded:arithmetic` wherever a dataset path is accepted.
"""

from __future__ import annotations

from phalanx.agents.selfevolve.embedded.arithmetic import generate_arithmetic
from phalanx.agents.selfevolve.embedded.kinship import generate_kinship
from phalanx.agents.selfevolve.types import Instance

EMBEDDED = {"kinship": generate_kinship, "arithmetic": generate_arithmetic}


def load_embedded(name: str, n: int = 240, seed: int = 0) -> list[Instance]:
    """Generate an embedded dataset by name.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        factory = EMBEDDED[name]
    except KeyError:
        raise ValueError(
            f"unknown embedded dataset {name!r}; choose from {', '.join(sorted(EMBEDDED))}"
        ) from None
    return factory(n=n, seed=seed)


__all__ = ["EMBEDDED", "generate_arithmetic", "generate_kinship", "load_embedded"]
