"""Mermaid flowchart text for a graph (paste into any Mermaid renderer)."""

from __future__ import annotations

import re

from langgraph.graph import END, START

from phalanx.agents.graph.spec import GraphSpec


def _ident(name: str) -> str:
    if name == START:
        return "__start__"
    if name == END:
        return "__end__"
    return "n_" + re.sub(r"\W", "_", name)


def to_mermaid(spec: GraphSpec) -> str:
    """Render `spec` as a top-down Mermaid flowchart.

    Static edges are solid, conditional edges dotted (labelled with the router's name),
    `Command` destinations dotted and labelled `goto`; subgraph nodes use the subroutine shape.
    """
    lines = [f"---\ntitle: {spec.name}\n---", "flowchart TD", "    __start__([START])", "    __end__([END])"]
    for node in spec.nodes.values():
        label = node.name.replace('"', "'")
        if node.subgraph is not None:
            lines.append(f'    {_ident(node.name)}[["{label}"]]')
        else:
            lines.append(f'    {_ident(node.name)}["{label}"]')
    for edge in spec.edges:
        for src in edge.sources:
            lines.append(f"    {_ident(src)} --> {_ident(edge.target)}")
    for branch in spec.branches:
        router = getattr(branch.router, "__name__", "router")
        for target in branch.targets:
            lines.append(f"    {_ident(branch.source)} -.->|{router}| {_ident(target)}")
    for node in spec.nodes.values():
        for target in node.destinations:
            lines.append(f"    {_ident(node.name)} -.->|goto| {_ident(target)}")
    return "\n".join(lines) + "\n"
