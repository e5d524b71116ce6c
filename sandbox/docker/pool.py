"""A warm pool of sandbox containers shared by concurrent callers on any event loop.

State lives under a `threading.Lock` and waiters are futures of their own event
loop (woken with `call_soon_threadsafe`), so one pool can serve pytest's
per-test loops, a web server and worker threads alike. Creating and removing
members (blocking docker calls) runs on the pool's own threads; `exec_threads`
serves backends whose executions block (the local backend's pipes).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from phalanx.sandbox.errors import SandboxUnavailable


class PoolMember(Protocol):
    uses: int
    dead: bool

    def looks_alive(self) -> bool: ...

    def destroy(self) -> None: ...


M = TypeVar("M", bound=PoolMember)


class WarmPool(Generic[M]):
    """Up to `size` members, created lazily and in parallel, recycled after `max_uses` or any failure.

    Args:
        factory: blocking function that creates and health-checks one member.
        size: number of members kept warm.
        max_uses: executions before a member is replaced by a fresh one.
        acquire_timeout_s: longest wait for a free member before `SandboxUnavailable`.
        max_waiters: callers allowed to wait at once; more are refused at once (back-pressure).
    """

    def __init__(
        self,
        factory: Callable[[], M],
        *,
        size: int,
        max_uses: int,
        acquire_timeout_s: float,
        max_waiters: int,
    ) -> None:
        self._factory = factory
        self.size = size
        self.max_uses = max_uses
        self.acquire_timeout_s = acquire_timeout_s
        self.max_waiters = max_waiters
        self._lock = threading.Lock()
        self._idle: deque[M] = deque()
        self._busy: set[M] = set()
        self._live = 0
        """Members idle, busy or being created."""
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[M]]] = deque()
        self._closed = False
        self._last_error: BaseException | None = None
        self.created = 0
        self.recycled = 0
        self.exec_threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="phalanx-sandbox-exec")
        self._admin = ThreadPoolExecutor(
            max_workers=min(size, 4) + 1, thread_name_prefix="phalanx-sandbox-admin"
        )

    # ----------------------------------------------------------------- creation

    def _spawn(self) -> None:
        """Start creating one member (call with the lock held and `_live` already counted)."""
        self._admin.submit(self._create_one)

    def _create_one(self) -> None:
        try:
            member = self._factory()
        except BaseException as exc:  # noqa: BLE001 - handed to waiters, never lost
            with self._lock:
                self._live -= 1
                self._last_error = exc
                waiters = list(self._waiters) if self._live == 0 else []
                if waiters:
                    self._waiters.clear()
            for loop, fut in waiters:
                _resolve(loop, fut, exc=exc)
            return
        with self._lock:
            self.created += 1
            if self._closed:
                self._live -= 1
                closed = True
            else:
                closed = False
                self._last_error = None
        if closed:
            member.destroy()
        else:
            self._hand_over(member)

    def warm_up(self) -> None:
        """Start creating members up to `size` (parallel, in the background)."""
        with self._lock:
            if self._closed:
                return
            while self._live < self.size:
                self._live += 1
                self._spawn()

    # ----------------------------------------------------------------- acquire / release

    async def acquire(self, timeout_s: float | None = None) -> M:
        """A healthy member for exclusive use; pair with `release`.

        Args:
            timeout_s: longest wait; default `acquire_timeout_s`.

        Raises:
            SandboxUnavailable: pool closed, creation failing, too many waiters, or none free in time.
        """
        loop = asyncio.get_running_loop()
        timeout_s = self.acquire_timeout_s if timeout_s is None else timeout_s
        while True:
            with self._lock:
                if self._closed:
                    raise SandboxUnavailable("the sandbox pool is closed")
                member = self._idle.popleft() if self._idle else None
                if member is None:
                    if self._live < self.size:
                        self._live += 1
                        self._spawn()
                        # The first caller warms the whole pool, in parallel.
                        while self._live < self.size:
                            self._live += 1
                            self._spawn()
                    if len(self._waiters) >= self.max_waiters:
                        raise SandboxUnavailable(
                            f"sandbox pool overloaded: {len(self._waiters)} callers already waiting for "
                            f"{self.size} sandboxes; retry later or raise pool_size"
                        )
                    fut: asyncio.Future[M] = loop.create_future()
                    self._waiters.append((loop, fut))
                else:
                    self._busy.add(member)
            if member is not None:
                if member.looks_alive():
                    return member
                self._discard(member)
                continue
            try:
                member = await asyncio.wait_for(asyncio.shield(fut), timeout_s)
            except (TimeoutError, asyncio.CancelledError) as exc:
                with self._lock:
                    try:
                        self._waiters.remove((loop, fut))
                    except ValueError:
                        pass
                if not fut.done():
                    # A hand-over may already be scheduled on this loop: it sees the
                    # cancelled future and passes the member on instead of losing it.
                    fut.cancel()
                elif not fut.cancelled() and fut.exception() is None:
                    self.release(fut.result())
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise SandboxUnavailable(
                    f"no sandbox became free within {timeout_s:g}s (all {self.size} busy); "
                    "raise pool_size or acquire_timeout_s"
                ) from None
            if member.looks_alive():
                return member
            self._discard(member)

    def _hand_over(self, member: M) -> None:
        """Give `member` to the oldest live waiter, else put it back to idle."""
        while True:
            with self._lock:
                if self._closed:
                    self._live -= 1
                    break
                if not self._waiters:
                    self._busy.discard(member)
                    self._idle.append(member)
                    return
                loop, fut = self._waiters.popleft()
                self._busy.add(member)
            if _resolve(loop, fut, member=member, on_refused=self._hand_over):
                return
        self._destroy_later(member)

    def release(self, member: M, *, recycle: bool = False) -> None:
        """Return `member`; it is replaced instead when dead, used up, or `recycle` is set."""
        member_spent = recycle or member.dead or member.uses >= self.max_uses
        if member_spent:
            self._discard(member)
        else:
            self._hand_over(member)

    def _discard(self, member: M) -> None:
        with self._lock:
            self._busy.discard(member)
            self._live -= 1
            self.recycled += 1
            refill = not self._closed
            if refill:
                self._live += 1
        self._destroy_later(member)
        if refill:
            self._spawn()

    def _destroy_later(self, member: M) -> None:
        try:
            self._admin.submit(member.destroy)
        except RuntimeError:
            # The pool shut down meanwhile (its threads are gone): remove it here and now.
            member.destroy()

    # ----------------------------------------------------------------- shutdown

    def close_sync(self) -> None:
        """Remove every member and refuse new work (blocking; safe from atexit)."""
        with self._lock:
            self._closed = True
            members = list(self._idle) + list(self._busy)
            self._idle.clear()
            self._busy.clear()
            waiters = list(self._waiters)
            self._waiters.clear()
        for loop, fut in waiters:
            _resolve(loop, fut, exc=SandboxUnavailable("the sandbox pool was closed"))
        # Members still being created see `_closed` and remove themselves.
        self._admin.shutdown(wait=True)
        for member in members:
            member.destroy()
        self.exec_threads.shutdown(wait=False)

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error


def _resolve(
    loop: asyncio.AbstractEventLoop,
    fut: asyncio.Future,
    *,
    member: object = None,
    exc: BaseException | None = None,
    on_refused: Callable[[Any], None] | None = None,
) -> bool:
    """Complete a waiter's future on its own loop; False when that loop is gone (caller re-routes)."""

    def settle() -> None:
        if fut.done():
            if member is not None and on_refused is not None:
                on_refused(member)
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(member)

    try:
        loop.call_soon_threadsafe(settle)
        return True
    except RuntimeError:
        return False
