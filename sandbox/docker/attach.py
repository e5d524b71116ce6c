"""The container's attached stdin/stdout as a blocking byte stream (the runner's protocol channel).

Docker multiplexes a non-TTY container's stdout and stderr on one attach
connection as frames: 1 byte stream id, 3 zero bytes, 4-byte big-endian size,
payload. Only stdout (id 1) carries protocol bytes; stderr (id 2) is kept as a
short tail for diagnostics (a crashing runner prints its traceback there).
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from phalanx.sandbox.server.protocol import ChannelBroken

STDERR_TAIL = 4096


class AttachStream:
    """Demultiplexes the attach socket of one container; blocking, with deadlines."""

    def __init__(self, api: Any, container_id: str) -> None:
        raw = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._response_holder = raw
        self._sock: socket.socket = getattr(raw, "_sock", raw)
        self._stdout = bytearray()
        self.stderr_tail = b""

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True)
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(min(n - len(buf), 1 << 20))
            except TimeoutError as exc:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True) from exc
            except OSError as exc:
                raise ChannelBroken(f"attach connection failed: {exc}") from exc
            if not chunk:
                tail = self.stderr_tail.decode("utf-8", "replace").strip()
                raise ChannelBroken("sandbox container went away" + (f"; its stderr: {tail}" if tail else ""))
            buf += chunk
        return bytes(buf)

    def read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._stdout) < n:
            head = self._recv_exact(8, deadline)
            kind = head[0]
            (size,) = struct.unpack(">I", head[4:8])
            payload = self._recv_exact(size, deadline) if size else b""
            if kind == 1:
                self._stdout += payload
            elif kind == 2:
                self.stderr_tail = (self.stderr_tail + payload)[-STDERR_TAIL:]
        out = bytes(self._stdout[:n])
        del self._stdout[:n]
        return out

    def fileno(self) -> int:
        return self._sock.fileno()

    def write_all(self, data: bytes) -> None:
        try:
            self._sock.settimeout(30)
            self._sock.sendall(data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
        try:
            self._response_holder.close()
        except Exception:
            pass
