"""The declarative description of a graph that the builder fills in and validation reads."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from phalanx.agents.graph.policy import NodePolicy


@dataclass(frozen=True)
class NodeSpec:
    """One node: its function (or subgraph), policy, and `Command(goto=...)` destinations."""

    name: str
    fn: Callable[..., Any]
    policy: NodePolicy | None = None
    destinations: tuple[str, ...] = ()
    subgraph: Any = None  # the child GraphBuilder when this node runs a subgraph


@dataclass(frozen=True)
class EdgeSpec:
    """A static edge; several sources make the target wait for all of them (fan-in)."""

    sources: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class BranchSpec:
    """A conditional edge: `router(state)` picks target names, or `Send`s for fan-out."""

    source: str
    router: Callable[..., Any]
    targets: tuple[str, ...]
    path_map: dict[Hashable, str] | None = None


@dataclass
class GraphSpec:
    """Everything a graph declares, in insertion order."""

    name: str
    state_model: type[BaseModel]
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    edges: list[EdgeSpec] = field(default_factory=list)
    branches: list[BranchSpec] = field(default_factory=list)
