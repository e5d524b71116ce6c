"""The container's attached stdin/stdout as a byte stream (the runner's protocol channel).

Docker multiplexes a non-TTY container's stdout and stderr on one attach
connection as frames: 1 byte stream id, 3 zero bytes, 4-byte big-endian size,
payload. Only stdout (id 1) carries protocol bytes; stderr (id 2) is kept as a
short tail for diagnostics (a crashing runner prints its traceback there).

Both a blocking API (container start-up, from worker threads) and an async one
are offered. The async one uses `loop.sock_recv`/`sock_sendall`, which bind the
socket to no loop, so a pool created under one event loop serves any other; and
it saves two thread hand-offs per execution, which dominate latency on a busy host.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

from phalanx.sandbox.server.protocol import ChannelBroken

STDERR_TAIL = 4096
RECV_SIZE = 1 << 16


class AttachStream:
    """Demultiplexes the attach socket of one container."""

    def __init__(self, api: Any, container_id: str) -> None:
        raw = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._response_holder = raw
        self._sock: socket.socket = getattr(raw, "_sock", raw)
        self._raw = bytearray()
        self._stdout = bytearray()
        self.stderr_tail = b""

    # ------------------------------------------------------------------ demultiplexing

    def _demux(self) -> None:
        """Move every complete frame from the raw buffer to stdout (or the stderr tail)."""
        raw = self._raw
        pos = 0
        while len(raw) - pos >= 8:
            (size,) = struct.unpack_from(">I", raw, pos + 4)
            if len(raw) - pos - 8 < size:
                break
            payload = raw[pos + 8 : pos + 8 + size]
            if raw[pos] == 1:
                self._stdout += payload
            elif raw[pos] == 2:
                self.stderr_tail = (self.stderr_tail + bytes(payload))[-STDERR_TAIL:]
            pos += 8 + size
        if pos:
            del raw[:pos]

    def _take(self, n: int) -> bytes:
        out = bytes(self._stdout[:n])
        del self._stdout[:n]
        return out

    def _eof(self) -> ChannelBroken:
        tail = self.stderr_tail.decode("utf-8", "replace").strip()
        return ChannelBroken("sandbox container went away" + (f"; its stderr: {tail[-800:]}" if tail else ""))

    # ------------------------------------------------------------------ blocking API

    def read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._stdout) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True)
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(RECV_SIZE)
            except TimeoutError as exc:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True) from exc
            except OSError as exc:
                raise ChannelBroken(f"attach connection failed: {exc}") from exc
            if not chunk:
                raise self._eof()
            self._raw += chunk
            self._demux()
        return self._take(n)

    def write_all(self, data: bytes) -> None:
        try:
            self._sock.settimeout(30)
            self._sock.sendall(data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    # ------------------------------------------------------------------ async API

    async def aread_exact(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        while len(self._stdout) < n:
            try:
                chunk = await loop.sock_recv(self._sock, RECV_SIZE)
            except OSError as exc:
                raise ChannelBroken(f"attach connection failed: {exc}") from exc
            if not chunk:
                raise self._eof()
            self._raw += chunk
            self._demux()
        return self._take(n)

    async def awrite_all(self, data: bytes) -> None:
        self._sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    # ------------------------------------------------------------------ misc

    def fileno(self) -> int:
        return self._sock.fileno()

    def has_unread(self) -> bool:
        return bool(self._stdout or self._raw)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
        try:
            self._response_holder.close()
        except Exception:
            pass
