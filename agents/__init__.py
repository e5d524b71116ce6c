"""phalanx.agents: the async agent-graph runtime and the agent systems built on it.

The runtime's public names (defined in `phalanx.agents.graph`) are re-exported here, and so are
the entry points of the systems built on it: `ToolAgent` (the tool-calling agent), `LongAgentTeam`,
the StepCoder `Executor` and `verify_apps`, the self-evolving benchmark's `evolve_dataset` and
`evaluate_models`, `audit_toolsword`, and the demo graph of `phalanx demo` (`build_demo_graph`). The systems load on first use, so `import phalanx.agents`
costs no more than the runtime. Each system's full surface is its subpackage: `tool_agent`,
`longagent`, `selfevolve`, `stepcoder`, `audit`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from phalanx.agents.graph import *  # noqa: F403 - the runtime's public surface, listed once there
from phalanx.agents.graph import __all__ as _RUNTIME

if TYPE_CHECKING:  # for type checkers; at run time `__getattr__` below imports them on first use
    from phalanx.agents.audit import AuditSummary, audit_toolsword  # noqa: F401
    from phalanx.agents.graph.demo import build_demo_graph  # noqa: F401
    from phalanx.agents.longagent import LongAgentTeam, TeamResult, run_niah  # noqa: F401
    from phalanx.agents.selfevolve import (  # noqa: F401
        EvaluationResult,
        EvolveSummary,
        evaluate_models,
        evolve_dataset,
    )
    from phalanx.agents.stepcoder import (  # noqa: F401
        Executor,
        ExecutorConfig,
        ProgramResult,
        VerifySummary,
        verify_apps,
    )
    from phalanx.agents.tool_agent import AgentResult, ToolAgent  # noqa: F401

_SYSTEMS = {
    "build_demo_graph": "graph.demo",
    "ToolAgent": "tool_agent",
    "AgentResult": "tool_agent",
    "LongAgentTeam": "longagent",
    "TeamResult": "longagent",
    "run_niah": "longagent",
    "Executor": "stepcoder",
    "ExecutorConfig": "stepcoder",
    "ProgramResult": "stepcoder",
    "VerifySummary": "stepcoder",
    "verify_apps": "stepcoder",
    "EvolveSummary": "selfevolve",
    "EvaluationResult": "selfevolve",
    "evolve_dataset": "selfevolve",
    "evaluate_models": "selfevolve",
    "AuditSummary": "audit",
    "audit_toolsword": "audit",
}

__all__ = [*_RUNTIME, *_SYSTEMS]


def __getattr__(name: str) -> Any:
    # The systems import their own dependencies (the sandbox client, jinja2, matplotlib...):
    # load one only when a name of it is used.
    package = _SYSTEMS.get(name)
    if package is None:
        raise AttributeError(f"module 'phalanx.agents' has no attribute {name!r}")
    return getattr(importlib.import_module(f"phalanx.agents.{package}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SYSTEMS))
