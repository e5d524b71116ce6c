"""The container's attached stdin/stdout as a byte stream (the runner's protocol channel).

Docker multiplexes a non-TTY container's stdout and stderr on one attach
connection as frames: 1 byte stream id, 3 zero bytes, 4-byte big-endian size,
payload. Only stdout (id 1) carries protocol bytes; stderr (id 2) is kept as a
short tail for diagnostics (a crashing runner prints its traceback there).

The socket reads and writes are `SocketChannel`'s; this class adds the demultiplexing.
"""

from __future__ import annotations

import struct
from typing import Any

from phalanx.sandbox.docker.socket_channel import SocketChannel
from phalanx.sandbox.server.protocol import ChannelBroken

STDERR_TAIL = 4096


class AttachStream(SocketChannel):
    """Demultiplexes the attach socket of one container."""

    _failure = "attach connection failed"

    def __init__(self, api: Any, container_id: str) -> None:
        raw = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        super().__init__(getattr(raw, "_sock", raw))
        self._response_holder = raw
        self._raw = bytearray()
        """Received bytes not yet demultiplexed (an incomplete frame)."""
        self.stderr_tail = b""

    # ------------------------------------------------------------------ demultiplexing

    def _feed(self, chunk: bytes) -> None:
        """Move every complete frame of the raw stream to the protocol buffer (or the stderr tail)."""
        self._raw += chunk
        raw = self._raw
        pos = 0
        while len(raw) - pos >= 8:
            (size,) = struct.unpack_from(">I", raw, pos + 4)
            if len(raw) - pos - 8 < size:
                break
            payload = raw[pos + 8 : pos + 8 + size]
            if raw[pos] == 1:
                self._buf += payload
            elif raw[pos] == 2:
                self.stderr_tail = (self.stderr_tail + bytes(payload))[-STDERR_TAIL:]
            pos += 8 + size
        if pos:
            del raw[:pos]

    def _eof(self) -> ChannelBroken:
        tail = self.stderr_tail.decode("utf-8", "replace").strip()
        return ChannelBroken("sandbox container went away" + (f"; its stderr: {tail[-800:]}" if tail else ""))

    # ------------------------------------------------------------------ misc

    def has_unread(self) -> bool:
        return bool(self._buf or self._raw)

    def close(self) -> None:
        self._close_socket()
        try:
            self._response_holder.close()
        except Exception:
            pass
