"""The audit log: one JSON line per tool call (arguments, each hook's verdict, result digest, timing).

Writes are buffered (one `write` per `flush_every` records or `flush_interval_s`)
so logging stays off the hot path; the buffer is flushed on `flush()`, `close()`,
context exit and interpreter exit, so nothing recorded is lost on a normal stop.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from phalanx.tools.records import iter_records
from phalanx.tools.types import ToolResult

_OPEN_LOGS: weakref.WeakSet[AuditLog] = weakref.WeakSet()


class AuditVerdict(BaseModel):
    """One hook verdict in an audit record."""

    hook: str
    stage: str
    action: str
    reason: str | None = None


class AuditRecord(BaseModel):
    """One line of the audit log."""

    ts: float
    """Unix time the call started."""
    call_id: str
    tool: str
    args: Any = None
    """Arguments as the model sent them (after parsing)."""
    final_args: Any = None
    """Arguments the body ran with, when a hook rewrote them."""
    status: str
    """ok, error, blocked, invalid_args, unknown_tool, unbound or timeout."""
    verdicts: list[AuditVerdict] = Field(default_factory=list)
    result_digest: str | None = None
    """sha256 of the content sent back to the model (first 16 hex digits)."""
    result_size: int = 0
    """Characters of content sent back to the model."""
    duration_ms: float = 0.0
    attempts: int = 0
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        """Whether a hook blocked this call."""
        return self.status == "blocked"


def digest(text: str) -> str:
    """Short content digest used in audit records."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


class AuditLog:
    """Appends one JSON line per tool call to `path` (parent folders are created).

    Args:
        path: the JSONL file (appended to, never truncated).
        flush_every: records buffered before a write.
        flush_interval_s: a buffered record is written at the next append after this long.
        metadata: keys added to every record's `metadata` (run id, agent name, ...).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_every: int = 64,
        flush_interval_s: float = 1.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_every = max(1, flush_every)
        self.flush_interval_s = flush_interval_s
        self.metadata = dict(metadata or {})
        self._buffer: list[str] = []
        self._first_buffered = 0.0
        self._lock = threading.Lock()
        self._closed = False
        self.records_written = 0
        _OPEN_LOGS.add(self)

    def record_call(
        self,
        result: ToolResult,
        *,
        raw_args: Any,
        started: float,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Append the record of one finished call (called by `Toolset.call`)."""
        content = result.content
        rec: dict[str, Any] = {
            "ts": round(started, 6),
            "call_id": result.call_id,
            "tool": result.tool,
            "args": raw_args,
            "status": result.status,
            "verdicts": [
                {"hook": v.hook, "stage": v.stage, "action": v.action, "reason": v.reason}
                for v in result.verdicts
            ],
            "result_digest": digest(content),
            "result_size": len(content),
            "duration_ms": round(result.duration_s * 1000, 3),
            "attempts": result.attempts,
            "error": result.error,
        }
        if result.args is not None and result.args is not raw_args and result.args != raw_args:
            rec["final_args"] = result.args
        meta = {**self.metadata, **metadata} if metadata else self.metadata
        if meta:
            rec["metadata"] = meta
        self.append(rec)

    def append(self, record: dict[str, Any]) -> None:
        """Append one raw record (a JSON-serialisable dict)."""
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            if self._closed:
                raise ValueError(f"audit log {self.path} is closed")
            if not self._buffer:
                self._first_buffered = time.monotonic()
            self._buffer.append(line)
            if (
                len(self._buffer) >= self.flush_every
                or time.monotonic() - self._first_buffered >= self.flush_interval_s
            ):
                self._flush_locked()

    def flush(self) -> None:
        """Write every buffered record to disk."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._buffer:
            return
        data = "\n".join(self._buffer) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(data)
        self.records_written += len(self._buffer)
        self._buffer.clear()

    def close(self) -> None:
        """Flush and stop accepting records (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def read_audit_log(path: str | Path) -> list[AuditRecord]:
    """Parse an audit log; a malformed line raises `ValueError` naming its line number."""
    return list(iter_audit_log(path))


def iter_audit_log(path: str | Path) -> Iterator[AuditRecord]:
    """Yield the records of an audit log in order (read by `iter_records`, as JSONL)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"audit log {p} does not exist")
    for where, value, _ in iter_records(p, "jsonl"):
        try:
            yield AuditRecord.model_validate(value)
        except ValueError as exc:
            raise ValueError(f"{where}: not an audit record: {exc}") from exc


@atexit.register
def _flush_open_logs() -> None:
    for log in list(_OPEN_LOGS):
        try:
            log.flush()
        except Exception:
            pass


def filter_audit_records(
    records: list[AuditRecord],
    *,
    tool: str | None = None,
    blocked: bool = False,
    status: str | None = None,
) -> list[AuditRecord]:
    """Records of one tool, only blocked ones, or one status (filters combine)."""
    out = records
    if tool is not None:
        out = [r for r in out if r.tool == tool]
    if blocked:
        out = [r for r in out if r.blocked]
    if status is not None:
        out = [r for r in out if r.status == status]
    return out


class AuditLogSummary(BaseModel):
    """Counts of an audit log's records."""

    records: int
    by_status: dict[str, int]
    """Calls per `ToolResult.status` (ok, error, blocked, ...)."""
    by_tool: dict[str, int]
    total_ms: float
    """Time spent in the calls, in milliseconds."""


def summarize_audit_log(records: list[AuditRecord]) -> AuditLogSummary:
    """Counts per status and per tool, and total duration."""
    by_status: dict[str, int] = {}
    by_tool: dict[str, int] = {}
    for r in records:
        by_status[r.status] = by_status.get(r.status, 0) + 1
        by_tool[r.tool] = by_tool.get(r.tool, 0) + 1
    return AuditLogSummary(
        records=len(records),
        by_status=by_status,
        by_tool=by_tool,
        total_ms=round(sum(r.duration_ms for r in records), 3),
    )
