"""Per-node execution policies: retries (tenacity) and timeouts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RetryPolicy(BaseModel):
    """Retry a node on declared transient errors, with exponential backoff and jitter.

    The wait before attempt k+1 is `initial_s * multiplier**(k-1)` plus a uniform random
    jitter in `[0, jitter_s]` (so parallel branches hitting one flaky service do not retry in
    lock-step), capped at `max_backoff_s`.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    max_attempts: int = Field(3, ge=1)
    """Total tries including the first one."""
    retry_on: tuple[type[BaseException], ...] = ()
    """Exception types that count as transient. Anything else fails at once (no retry).
    Include `TimeoutError` to retry attempts that ran past the node timeout."""
    initial_s: float = Field(0.5, ge=0)
    """Backoff before the second attempt."""
    multiplier: float = Field(2.0, ge=1)
    """Growth factor of the backoff per attempt."""
    max_backoff_s: float = Field(30.0, ge=0)
    """Upper bound of one backoff (before jitter)."""
    jitter_s: float = Field(0.25, ge=0)
    """Upper bound of the random extra wait added to each backoff."""

    @field_validator("retry_on", mode="before")
    @classmethod
    def _types_only(cls, value: Any) -> Any:
        if isinstance(value, type):
            value = (value,)
        for item in value:
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                raise ValueError(f"retry_on must hold exception classes, got {item!r}")
        return tuple(value)


class NodePolicy(BaseModel):
    """How one node is run: a per-attempt timeout and a retry policy."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float | None = Field(None, gt=0)
    """Wall-clock limit of one attempt (asyncio cancellation, so it stops an async node at its next
    `await`; a plain function blocking the loop cannot be cut short); `None` means no limit."""
    retry: RetryPolicy | None = None
    """Retries on transient errors; `None` means one attempt."""
