"""Checkpointer specs: where a graph's progress is saved, keyed by thread id."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from phalanx.agents.graph.errors import CheckpointerSpecError


def default_checkpoint_path() -> Path:
    """Where `checkpointer="sqlite"` saves: `$PHALANX_CHECKPOINT_DB`, else `~/.cache/phalanx/checkpoints.sqlite`."""
    env = os.environ.get("PHALANX_CHECKPOINT_DB")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "phalanx" / "checkpoints.sqlite"


@dataclass(frozen=True)
class Checkpointing:
    """A parsed `checkpointer=` argument.

    `saver` is set for in-process savers (memory or a user's saver), used as is; `path`
    is set for SQLite, whose async connection is opened per call on the running loop
    (an aiosqlite connection is bound to the loop that opened it).
    """

    saver: BaseCheckpointSaver | None = None
    path: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.saver is not None or self.path is not None

    def describe(self) -> str:
        if self.path is not None:
            return f"sqlite:{self.path}"
        if isinstance(self.saver, InMemorySaver):
            return "memory"
        return type(self.saver).__name__ if self.saver is not None else "none"

    @asynccontextmanager
    async def open(self) -> AsyncIterator[BaseCheckpointSaver | None]:
        """Yield a ready saver (or `None` when checkpointing is off).

        Concurrent runs on one loop share one SQLite connection per file: separate
        connections writing the same file in parallel make SQLite answer "database is
        locked" (a deferred transaction cannot upgrade to a write lock while another
        connection writes), whereas `AsyncSqliteSaver` serialises its own connection.
        """
        if self.path is None:
            yield self.saver
            return
        import asyncio

        key = (str(self.path.resolve()), id(asyncio.get_running_loop()))
        shared = _OPEN_SQLITE.get(key)
        if shared is None:
            shared = _OPEN_SQLITE[key] = _SharedSqlite(self.path)
        shared.users += 1
        try:
            yield await shared.saver()
        finally:
            shared.users -= 1
            if shared.users == 0:
                _OPEN_SQLITE.pop(key, None)
                await shared.close()


class _SharedSqlite:
    """One aiosqlite connection (and saver) for a checkpoint file, shared by concurrent runs."""

    def __init__(self, path: Path) -> None:
        import asyncio

        self.path = path
        self.users = 0
        self._lock = asyncio.Lock()
        self._conn: Any = None
        self._saver: BaseCheckpointSaver | None = None

    async def saver(self) -> BaseCheckpointSaver:
        async with self._lock:
            if self._saver is None:
                import aiosqlite
                from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = await aiosqlite.connect(str(self.path))
                # WAL + synchronous=NORMAL: a committed checkpoint survives the process being killed
                # (only an OS crash can lose the newest ones) without an fsync per checkpoint.
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute("PRAGMA synchronous=NORMAL")
                self._conn, self._saver = conn, AsyncSqliteSaver(conn)
            return self._saver

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, self._saver = self._conn, None, None
            await conn.close()


_OPEN_SQLITE: dict[tuple[str, int], _SharedSqlite] = {}


def parse_checkpointer(spec: str | BaseCheckpointSaver | None) -> Checkpointing:
    """Turn `"memory"`, `"sqlite"`, `"sqlite:PATH"`, `None` or a saver into a `Checkpointing`."""
    if spec is None or spec == "none":
        return Checkpointing()
    if isinstance(spec, BaseCheckpointSaver):
        return Checkpointing(saver=spec)
    if isinstance(spec, str):
        if spec == "memory":
            return Checkpointing(saver=InMemorySaver())
        if spec == "sqlite":
            return Checkpointing(path=default_checkpoint_path())
        if spec.startswith("sqlite:"):
            target = spec.removeprefix("sqlite:")
            if target in ("", ":memory:"):
                raise CheckpointerSpecError(
                    f"checkpointer {spec!r}: give a file path (sqlite:runs.db); use 'memory' for an in-process store"
                )
            return Checkpointing(path=Path(target).expanduser())
        if spec.endswith((".db", ".sqlite", ".sqlite3")):
            return Checkpointing(path=Path(spec).expanduser())
    raise CheckpointerSpecError(
        f"unknown checkpointer {spec!r}: use 'sqlite:PATH' (durable), 'memory', None, or a LangGraph saver"
    )
