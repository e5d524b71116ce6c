"""Find a graph by name (`MODULE:ATTRIBUTE`) and check its shape, as `phalanx graph ...` does."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from phalanx.agents.graph.builder import GraphBuilder
from phalanx.agents.graph.errors import GraphLoadError
from phalanx.agents.graph.runtime import GraphRuntime


def load_graph(target: str) -> GraphBuilder | GraphRuntime:
    """Import `MODULE:ATTRIBUTE`: a `GraphBuilder`, a `GraphRuntime`, or a function returning one.

    The current directory is importable, so `examples.runtime_graph:builder` works from a checkout.

    Raises:
        GraphLoadError: the target is malformed, cannot be imported, or is not a graph.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise GraphLoadError(f"{target!r} is not MODULE:ATTRIBUTE (e.g. examples.runtime_graph:builder)")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise GraphLoadError(f"cannot load {target!r}: {exc}") from exc
    if callable(obj) and not isinstance(obj, GraphBuilder | GraphRuntime):
        obj = obj()
    if not isinstance(obj, GraphBuilder | GraphRuntime):
        raise GraphLoadError(f"{target!r} is a {type(obj).__name__}, not a GraphBuilder or GraphRuntime")
    return obj


def check_graph(graph: GraphBuilder | GraphRuntime, *, step_limit: int | None = None) -> GraphBuilder:
    """Validate a graph's shape; returns its builder.

    Args:
        graph: a builder, or a compiled runtime (whose step limit is the default of `step_limit`).
        step_limit: the step limit the graph will run with (a bounded cycle is then allowed).

    Raises:
        GraphValidationError: one line per problem (unknown or unreachable nodes, dead ends,
            unbounded cycles).
    """
    builder = graph if isinstance(graph, GraphBuilder) else graph.builder
    if step_limit is None and isinstance(graph, GraphRuntime):
        step_limit = graph.step_limit
    builder.validate(step_limit=step_limit)
    return builder
