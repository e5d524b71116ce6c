"""Running a whole graph as one node of another.

The child graph is invoked inside the parent node (LangGraph gives it its own checkpoint
namespace, so it resumes and interrupts like any node). Its output is the child's full
state, so for reducer fields (e.g. `operator.add` lists) we return only what the child
added; returning the full value would make the parent's reducer count old items twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from phalanx.agents.graph.events import NAMESPACE


def field_reducers(model: type[BaseModel]) -> dict[str, Callable[[Any, Any], Any] | None]:
    """Map each field of a state model to its reducer (`Annotated[..., fn]`), or `None`."""
    out: dict[str, Callable[[Any, Any], Any] | None] = {}
    for name, info in model.model_fields.items():
        out[name] = next((m for m in info.metadata if callable(m)), None)
    return out


def state_delta(reducers: dict[str, Any], before: BaseModel, after: dict[str, Any]) -> dict[str, Any]:
    """The update that turns parent state `before` into the child's result `after`."""
    update: dict[str, Any] = {}
    for key, new in after.items():
        if key not in reducers:
            continue
        old = getattr(before, key)
        if new == old:
            continue
        if reducers[key] is not None:
            if isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
                new = new[len(old) :]
            elif isinstance(old, dict) and isinstance(new, dict):
                new = {k: v for k, v in new.items() if k not in old or old[k] != v}
        update[key] = new
    return update


def subgraph_node(name: str, child: Any, parent_model: type[BaseModel]) -> Callable[[Any], Any]:
    """An async node function that runs the child builder's graph on the shared fields."""
    compiled = child.to_langgraph(checkpointer=None)  # None: inherit the parent's saver
    child_fields = set(child.state_model.model_fields)
    shared = [k for k in parent_model.model_fields if k in child_fields]
    reducers = {k: r for k, r in field_reducers(parent_model).items() if k in child_fields}

    async def run_subgraph(state: BaseModel) -> dict[str, Any]:
        token = NAMESPACE.set((*NAMESPACE.get(), name))
        try:
            out = await compiled.ainvoke({k: getattr(state, k) for k in shared})
        finally:
            NAMESPACE.reset(token)
        return state_delta(reducers, state, out)

    run_subgraph.__name__ = name
    return run_subgraph
