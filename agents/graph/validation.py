"""Static checks over a graph's shape (networkx), run before anything executes."""

from __future__ import annotations

import difflib
from itertools import islice

import networkx as nx
from langgraph.graph import END, START

from phalanx.agents.graph.spec import GraphSpec


def to_digraph(spec: GraphSpec) -> nx.DiGraph:
    """The graph as a networkx DiGraph over node names plus START and END (unknown names included)."""
    g = nx.DiGraph()
    g.add_nodes_from([START, END, *spec.nodes])
    for edge in spec.edges:
        for src in edge.sources:
            g.add_edge(src, edge.target, kind="edge")
    for branch in spec.branches:
        for target in branch.targets:
            g.add_edge(branch.source, target, kind="branch")
    for node in spec.nodes.values():
        for target in node.destinations:
            g.add_edge(node.name, target, kind="command")
    return g


def find_problems(spec: GraphSpec, step_limit: int | None) -> list[str]:
    """Every shape problem of `spec`, one readable line each (empty when the graph is sound)."""
    problems: list[str] = []
    known = set(spec.nodes)

    def unknown(name: str, where: str) -> None:
        hint = difflib.get_close_matches(name, list(known), n=1)
        maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
        listing = ", ".join(sorted(known)) or "none"
        problems.append(f"{where} refers to unknown node {name!r}{maybe}; known nodes: {listing}")

    if not spec.nodes:
        problems.append("the graph has no nodes; add one with add_node(name, fn)")
    for edge in spec.edges:
        label = f"edge {' & '.join(edge.sources)} -> {edge.target}"
        for src in edge.sources:
            if src == END:
                problems.append(f"{label} starts at END; END has no outgoing edges")
            elif src != START and src not in known:
                unknown(src, label)
        if edge.target == START:
            problems.append(f"{label} ends at START; START cannot be a target")
        elif edge.target != END and edge.target not in known:
            unknown(edge.target, label)
    for branch in spec.branches:
        label = f"conditional edges from {branch.source}"
        if branch.source != START and branch.source not in known:
            unknown(branch.source, label)
        if not branch.targets:
            problems.append(f"{label} declare no targets; pass the node names the router may return")
        for target in branch.targets:
            if target != END and target not in known:
                unknown(target, label)
    for node in spec.nodes.values():
        for target in node.destinations:
            if target != END and target not in known:
                unknown(target, f"destinations of node {node.name}")
    if problems:
        return problems  # reachability on a graph with dangling names would only repeat them

    g = to_digraph(spec)
    if not any(True for _ in g.successors(START)):
        problems.append("no entry point: add add_edge(START, <first node>)")
        return problems
    reachable = nx.descendants(g, START)
    for name in spec.nodes:
        if name not in reachable:
            problems.append(f"node {name!r} is unreachable from START (nothing leads to it)")
    problems += _dead_ends(g, reachable)
    if step_limit is None:
        order = {name: i for i, name in enumerate(spec.nodes)}
        for cycle in islice(nx.simple_cycles(g), 3):
            k = min(range(len(cycle)), key=lambda i: order.get(cycle[i], -1))
            cycle = cycle[k:] + cycle[:k]  # start at the node declared first: stable messages
            path = " -> ".join([*cycle, cycle[0]])
            problems.append(
                f"cycle {path} has no step limit; pass compile(step_limit=N) to bound how many steps it may run"
            )
    return problems


def _dead_ends(g: nx.DiGraph, reachable: set[str]) -> list[str]:
    """Name only where a path gets stuck, not every node upstream of it.

    Over the strongly connected components of the nodes that cannot reach END, report
    those with no way out to another such component: a node without outgoing edges, or
    a loop nobody leaves.
    """
    finishes = nx.ancestors(g, END)
    stuck = [n for n in g if n not in (START, END) and n in reachable and n not in finishes]
    if not stuck:
        return []
    sub = g.subgraph(stuck)
    cond = nx.condensation(sub)
    out: list[str] = []
    for comp in cond.nodes:
        if cond.out_degree(comp):
            continue
        members = sorted(cond.nodes[comp]["members"])
        if len(members) == 1 and not g.has_edge(members[0], members[0]):
            out.append(
                f"node {members[0]!r} is a dead end: no path from it to END; add an edge from it (or after it) to END"
            )
        else:
            out.append(f"nodes {', '.join(map(repr, members))} loop with no path to END; add an exit to END")
    return out


def longest_path_len(spec: GraphSpec) -> int:
    """Number of steps the longest START→END path takes in an acyclic graph."""
    g = to_digraph(spec)
    if not nx.is_directed_acyclic_graph(g):
        return len(g)
    return nx.dag_longest_path_length(g)
