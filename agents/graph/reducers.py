"""Reducers for state channels: how concurrent node updates to one field combine.

Use them with `typing.Annotated` on a pydantic state field, e.g.
`notes: Annotated[dict[str, str], merge_dicts] = {}` or
`items: Annotated[list[str], operator.add] = []` (LangGraph's channel reducers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_dicts(left: Mapping[Any, Any] | None, right: Mapping[Any, Any] | None) -> dict[Any, Any]:
    """Shallow-merge two dicts; keys in `right` win. Either side may be `None`."""
    if not left:
        return dict(right or {})
    if not right:
        return dict(left)
    return {**left, **right}


def append(left: list[Any] | None, right: list[Any] | Any | None) -> list[Any]:
    """Concatenate lists; a non-list update is appended as one item."""
    base = list(left or [])
    if right is None:
        return base
    if isinstance(right, list | tuple):
        return base + list(right)
    return base + [right]
