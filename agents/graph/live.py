"""A rich live table of a run's events, for the CLI (any `RunEvent` stream renders)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from phalanx.agents.graph.events import RunEvent

_STYLE = {
    "running": "yellow",
    "done": "green",
    "retrying": "magenta",
    "failed": "bold red",
    "waiting": "cyan",
}


@dataclass
class _Row:
    label: str
    status: str = "running"
    attempts: int = 1
    started: float = field(default_factory=time.monotonic)
    duration_s: float | None = None
    tokens: int = 0
    detail: str = ""


class LiveView:
    """Keeps one row per node run (parallel runs of one node get `#2`, `#3`, ...)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: dict[str, _Row] = {}
        self.notes: list[str] = []
        self.started = time.monotonic()
        self.done: RunEvent | None = None
        self._seen_labels: dict[str, int] = {}

    def _row(self, event: RunEvent) -> _Row:
        key = event.task_id or "/".join((*event.namespace, event.node or "?"))
        row = self.rows.get(key)
        if row is None:
            base = "/".join((*event.namespace, event.node or "?"))
            count = self._seen_labels[base] = self._seen_labels.get(base, 0) + 1
            row = self.rows[key] = _Row(label=base if count == 1 else f"{base} #{count}", started=event.ts)
        return row

    def update(self, event: RunEvent) -> None:
        """Fold one event into the view."""
        if event.kind == "done":
            self.done = event
            return
        if event.node is None:
            if event.kind == "error":
                self.notes.append(f"[red]error:[/] {event.data.get('error')}")
            return
        row = self._row(event)
        if event.kind == "node_start":
            row.status = "running"
        elif event.kind == "node_end":
            row.status, row.duration_s = "done", event.duration_s
        elif event.kind == "token":
            row.tokens += 1
            row.detail = (row.detail + str(event.data.get("text", "")))[-60:]
        elif event.kind == "tool_call":
            row.detail = f"tool {event.data.get('name')}({event.data.get('arguments', '')})"[:60]
        elif event.kind == "error":
            if event.data.get("will_retry"):
                row.status, row.attempts = "retrying", int(event.data.get("attempt", 1)) + 1
                row.detail = f"{event.data.get('error')} (retry in {event.data.get('backoff_s', 0):.2f}s)"[
                    :60
                ]
            else:
                row.status, row.duration_s = "failed", event.duration_s
                row.detail = str(event.data.get("error"))[:60]
        elif event.kind == "interrupt":
            row.status = "waiting"
            row.detail = f"asks: {event.data.get('value')}"[:60]
        elif event.kind == "custom":
            row.detail = ", ".join(f"{k}={v}" for k, v in event.data.items())[:60]

    def render(self) -> Group:
        """The current table (and notes)."""
        now = time.monotonic()
        table = Table(title=f"{self.title}  ({now - self.started:.1f}s)", expand=False)
        for col, width in (("node", 10), ("status", 8), ("tries", 5), ("time", 6), ("tokens", 6)):
            table.add_column(col, no_wrap=True, min_width=width)
        table.add_column("latest", no_wrap=True, overflow="ellipsis", max_width=48)
        for row in self.rows.values():
            took = row.duration_s if row.duration_s is not None else now - row.started
            table.add_row(
                row.label,
                Text(row.status, style=_STYLE.get(row.status, "")),
                str(row.attempts),
                f"{took:.2f}s",
                str(row.tokens or ""),
                row.detail.replace("\n", " "),
            )
        return Group(table, *self.notes)


async def render_live(
    events: AsyncIterator[RunEvent], *, title: str, console: Console | None = None
) -> RunEvent | None:
    """Show `events` as a live table until the stream ends; return the `done` event (if any)."""
    view = LiveView(title)
    with Live(view.render(), console=console, refresh_per_second=12) as live:
        async for event in events:
            view.update(event)
            live.update(view.render())
    return view.done
