"""`GraphBuilder`: declare a typed graph of async nodes, then `compile()` it into a `GraphRuntime`."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from phalanx.agents.graph.errors import GraphValidationError
from phalanx.agents.graph.mermaid import to_mermaid
from phalanx.agents.graph.node import wrap_node, wrap_router
from phalanx.agents.graph.policy import NodePolicy
from phalanx.agents.graph.spec import BranchSpec, EdgeSpec, GraphSpec, NodeSpec
from phalanx.agents.graph.subgraph import subgraph_node
from phalanx.agents.graph.validation import find_problems

if TYPE_CHECKING:
    from phalanx.agents.graph.runtime import GraphRuntime

S = TypeVar("S", bound=BaseModel)
_RESERVED = re.compile(r"[:|]")


class GraphBuilder(Generic[S]):
    """Declares a graph over a pydantic state model.

    Nodes are async functions `fn(state) -> dict | None | Command` returning a partial
    update; fields annotated with a reducer (`Annotated[list[X], operator.add]`,
    `Annotated[dict, merge_dicts]`) combine concurrent updates, other fields are
    overwritten. Every method returns the builder, so calls chain.

    Args:
        state_model: The pydantic model of the graph's state.
        name: Shown in errors, events and the Mermaid title.
    """

    def __init__(self, state_model: type[S], *, name: str = "graph") -> None:
        if not (isinstance(state_model, type) and issubclass(state_model, BaseModel)):
            raise TypeError(f"GraphBuilder needs a pydantic BaseModel subclass as state, got {state_model!r}")
        self.spec = GraphSpec(name=name, state_model=state_model)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state_model(self) -> type[S]:
        return self.spec.state_model  # type: ignore[return-value]

    def add_node(
        self,
        name: str,
        fn: Callable[..., Any] | GraphBuilder[Any] | GraphRuntime[Any],
        *,
        policy: NodePolicy | None = None,
        destinations: Sequence[str] = (),
    ) -> GraphBuilder[S]:
        """Add a node.

        Args:
            name: Unique node name (not START/END, no ':' or '|').
            fn: An async (or plain) function of the state, or a `GraphBuilder`/`GraphRuntime`
                to run as a subgraph on the fields both states share.
            policy: Timeout and retries for this node.
            destinations: Nodes this node may jump to with `Command(goto=...)` (for validation and Mermaid).
        """
        if name in (START, END) or not name or _RESERVED.search(name):
            raise ValueError(
                f"invalid node name {name!r}: must be non-empty, not START/END, without ':' or '|'"
            )
        if name in self.spec.nodes:
            raise ValueError(f"node {name!r} already exists in graph {self.name!r}")
        child = _as_builder(fn)
        if child is not None:
            fn = subgraph_node(name, child, self.state_model)
        elif not callable(fn):
            raise TypeError(f"node {name!r}: expected an async function or a graph, got {type(fn).__name__}")
        self.spec.nodes[name] = NodeSpec(name, fn, policy, tuple(destinations), child)
        return self

    def add_edge(self, source: str | Sequence[str], target: str) -> GraphBuilder[S]:
        """Run `target` after `source`; with several sources, after all of them finished (fan-in)."""
        sources = (source,) if isinstance(source, str) else tuple(source)
        if not sources:
            raise ValueError("add_edge needs at least one source")
        self.spec.edges.append(EdgeSpec(sources, target))
        return self

    def add_conditional_edges(
        self,
        source: str,
        router: Callable[..., Any],
        targets: Sequence[str] | Mapping[Hashable, str],
    ) -> GraphBuilder[S]:
        """After `source`, call `router(state)` to choose where to go.

        The router returns a target name, a list of names, `END`, or `Send(node, payload)`
        objects (a list of them fans out in parallel; a dict payload is validated into the
        state model for that branch). `targets` lists every node it may choose (or maps
        router return values to node names), so the graph can be checked before it runs.
        """
        if isinstance(targets, str):
            targets = [targets]
        if isinstance(targets, Mapping):
            path_map: dict[Hashable, str] | None = dict(targets)
            names = tuple(dict.fromkeys(targets.values()))
        else:
            path_map = None
            names = tuple(dict.fromkeys(targets))
        self.spec.branches.append(BranchSpec(source, router, names, path_map))
        return self

    def validate(self, *, step_limit: int | None = None) -> GraphBuilder[S]:
        """Raise `GraphValidationError` listing every shape problem (see `find_problems`)."""
        problems = find_problems(self.spec, step_limit)
        for node in self.spec.nodes.values():
            if node.subgraph is not None:
                inner = find_problems(node.subgraph.spec, step_limit)
                problems += [f"in subgraph {node.name!r}: {p}" for p in inner]
        if problems:
            raise GraphValidationError(self.name, problems)
        return self

    def mermaid(self) -> str:
        """Mermaid flowchart text of the graph."""
        return to_mermaid(self.spec)

    def to_langgraph(self, checkpointer: BaseCheckpointSaver | None = None) -> Any:
        """Compile into a LangGraph graph (the escape hatch; `compile()` is the normal path)."""
        model = self.state_model
        g: StateGraph = StateGraph(model)
        for node in self.spec.nodes.values():
            g.add_node(  # type: ignore[call-overload]  # langgraph's overloads do not cover a plain callable + destinations
                node.name,
                wrap_node(node.name, node.fn, model, node.policy),
                destinations=node.destinations or None,
            )
        for edge in self.spec.edges:
            g.add_edge(edge.sources[0] if len(edge.sources) == 1 else list(edge.sources), edge.target)
        for branch in self.spec.branches:
            router = wrap_router(branch.source, branch.router, model)
            g.add_conditional_edges(branch.source, router, branch.path_map or list(branch.targets))
        return g.compile(checkpointer=checkpointer, name=self.name)

    def compile(
        self,
        *,
        checkpointer: str | BaseCheckpointSaver | None = "sqlite",
        max_concurrency: int | None = None,
        step_limit: int | None = None,
        durability: Literal["sync", "async", "exit"] = "sync",
        validate: bool = True,
    ) -> GraphRuntime[S]:
        """Validate the graph and build its runtime.

        Args:
            checkpointer: `"sqlite:PATH"` (durable; plain `"sqlite"` uses `default_checkpoint_path()`),
                `"memory"` (this process only), `None` (no resume, no interrupts), or a LangGraph saver.
            max_concurrency: Most nodes running at once within a step (e.g. a `Send` fan-out).
            step_limit: Most supersteps one run may take; required when the graph has a cycle.
            durability: When checkpoints are written: `"sync"` before the next step (survives kill -9
                with at most the running step redone), `"async"` overlapped, `"exit"` only at the end.
            validate: Run the static checks (on by default).
        """
        from phalanx.agents.graph.runtime import GraphRuntime

        if validate:
            self.validate(step_limit=step_limit)
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if step_limit is not None and step_limit < 1:
            raise ValueError(f"step_limit must be >= 1, got {step_limit}")
        return GraphRuntime(
            self,
            checkpointer=checkpointer,
            max_concurrency=max_concurrency,
            step_limit=step_limit,
            durability=durability,
        )


def _as_builder(fn: Any) -> GraphBuilder[Any] | None:
    if isinstance(fn, GraphBuilder):
        return fn
    builder = getattr(fn, "builder", None)
    if isinstance(builder, GraphBuilder):
        return builder
    return None
