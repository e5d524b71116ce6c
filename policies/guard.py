"""The `Guard` seam and its registry.

A guard inspects one `GuardContext` and returns a `Finding`; it never decides what
happens next (the policy maps a finding to allow / block / redact / annotate /
ask-human, see `phalanx.policies.stack`). Contract: `check` returns a `Finding`
for every ordinary input; an exception means "no decision" and the stack fails
closed on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phalanx.policies.types import Finding, GuardContext, Stage

if TYPE_CHECKING:
    from phalanx.policies.config import GuardConfig


class Guard(ABC):
    """One detector at one ToolSword stage."""

    name: str = ""
    stage: Stage = Stage.INPUT

    @abstractmethod
    async def check(self, ctx: GuardContext) -> Finding:
        """Inspect `ctx` and report whether (and why) it is flagged."""


class GuardResources:
    """Shared, lazily built resources handed to guard factories (embedder, seeds, judge model, sandbox)."""

    def __init__(
        self, *, embedder: Any = None, seeds: Any = None, judge: Any = None, sandbox: Any = None
    ) -> None:
        self.embedder = embedder
        self.seeds = seeds
        self.judge = judge
        self.sandbox = sandbox


GuardFactory = Callable[["GuardConfig", GuardResources], Guard]
_GUARDS: dict[str, tuple[Stage, GuardFactory]] = {}


def register_guard(name: str, stage: Stage) -> Callable[[GuardFactory], GuardFactory]:
    """Register a guard factory under the name used in policy files."""

    def deco(factory: GuardFactory) -> GuardFactory:
        _GUARDS[name] = (stage, factory)
        return factory

    return deco


def registered_guards() -> dict[str, Stage]:
    """Guard names a policy file may configure, with their stage."""
    _import_builtin()
    return {name: stage for name, (stage, _) in _GUARDS.items()}


def build_guard(name: str, config: GuardConfig, resources: GuardResources) -> Guard:
    """Instantiate the guard registered as `name`."""
    _import_builtin()
    return _GUARDS[name][1](config, resources)


def _import_builtin() -> None:
    from phalanx.policies import execution_guards, input_guards, output_guards, request_guard  # noqa: F401
