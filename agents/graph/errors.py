"""Errors raised by the graph runtime: every one names what is wrong and what to do next."""

from __future__ import annotations


class GraphError(Exception):
    """Base class of every graph-runtime error."""


class GraphValidationError(GraphError):
    """The graph's shape is wrong (found before anything runs).

    Attributes:
        problems: One human-readable line per problem found.
    """

    def __init__(self, graph: str, problems: list[str]) -> None:
        self.graph = graph
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"graph {graph!r} is not valid ({len(self.problems)} problem(s)):\n{lines}")


class GraphLoadError(GraphError, ValueError):
    """A `MODULE:ATTRIBUTE` graph target that is malformed, cannot be imported, or is not a graph."""


class NodeFailed(GraphError):
    """A node raised and will not be retried (not a declared transient error, or attempts exhausted).

    Attributes:
        node: Name of the node that failed.
        attempts: How many times the node was tried.
        error: The last exception the node raised (also the `__cause__`).
    """

    def __init__(self, node: str, attempts: int, error: BaseException) -> None:
        self.node = node
        self.attempts = attempts
        self.error = error
        self.reported = False  # set once its `error` event went out on a stream
        tries = "attempt" if attempts == 1 else "attempts"
        super().__init__(f"node {node!r} failed after {attempts} {tries}: {type(error).__name__}: {error}")

    def __reduce__(self):  # keep the exception picklable (it crosses process pools)
        return (NodeFailed, (self.node, self.attempts, self.error))


class NodeTimeout(GraphError, TimeoutError):
    """One attempt of a node ran past its `NodePolicy.timeout_s`.

    It is a `TimeoutError`, so `RetryPolicy(retry_on=(TimeoutError,))` retries it.
    """

    def __init__(self, node: str, timeout_s: float) -> None:
        self.node = node
        self.timeout_s = timeout_s
        super().__init__(f"node {node!r} exceeded its timeout of {timeout_s:g}s")

    def __reduce__(self):
        return (NodeTimeout, (self.node, self.timeout_s))


class StepLimitExceeded(GraphError):
    """A run took more supersteps than its step limit (usually a cycle whose exit never fires)."""

    def __init__(self, graph: str, limit: int) -> None:
        self.graph = graph
        self.limit = limit
        super().__init__(
            f"graph {graph!r} did not finish within {limit} steps; check the exit condition of its cycle "
            "or compile it with a larger step_limit (progress so far is checkpointed: resume continues)"
        )


class CheckpointerSpecError(GraphError, ValueError):
    """A `checkpointer=` argument that is not `"memory"`, `"sqlite:PATH"`, `None` or a saver."""


class ThreadNotFound(GraphError, LookupError):
    """`resume`/`state` was asked about a thread id with no recorded checkpoint."""
