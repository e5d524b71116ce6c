"""The byte-stream half that the attach and unix-socket transports share.

Both carry the runner's protocol over one connected socket, with a blocking API
(container start-up, from worker threads) and an async one. The async one uses
`loop.sock_recv`/`sock_sendall`, which bind the socket to no loop, so a pool
created under one event loop serves any other. Subclasses say how received
bytes become protocol bytes (`_feed`) and what a closed connection means (`_eof`).
"""

from __future__ import annotations

import asyncio
import socket
import time

from phalanx.sandbox.server.protocol import ChannelBroken

RECV_SIZE = 1 << 16


class SocketChannel:
    """Exact reads and whole writes of protocol bytes over `self._sock`."""

    _failure = "connection failed"
    """How a socket error is described in `ChannelBroken` messages."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()
        """Protocol bytes received and not yet read."""

    def _feed(self, chunk: bytes) -> None:
        """Add received bytes to `_buf` (a transport that frames its stream overrides this)."""
        self._buf += chunk

    def _eof(self) -> ChannelBroken:
        return ChannelBroken("sandbox container went away")

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True)
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(RECV_SIZE)
            except TimeoutError as exc:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True) from exc
            except OSError as exc:
                raise ChannelBroken(f"{self._failure}: {exc}") from exc
            if not chunk:
                raise self._eof()
            self._feed(chunk)
        return self._take(n)

    def write_all(self, data: bytes) -> None:
        try:
            self._sock.settimeout(30)
            self._sock.sendall(data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    async def aread_exact(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        while len(self._buf) < n:
            try:
                chunk = await loop.sock_recv(self._sock, RECV_SIZE)
            except OSError as exc:
                raise ChannelBroken(f"{self._failure}: {exc}") from exc
            if not chunk:
                raise self._eof()
            self._feed(chunk)
        return self._take(n)

    async def awrite_all(self, data: bytes) -> None:
        self._sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    def fileno(self) -> int:
        return self._sock.fileno()

    def has_unread(self) -> bool:
        return bool(self._buf)

    def _close_socket(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
