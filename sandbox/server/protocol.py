"""Host side of the runner's wire protocol: frames, requests and results.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
The channel is blocking on purpose: pools drive it from worker threads, so one
sandbox can be used from any event loop (pytest, uvicorn, a user's own loop).
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import time
from importlib import resources
from typing import Any, Protocol

from phalanx.sandbox.errors import SandboxUnavailable
from phalanx.sandbox.types import ExecRequest, ExecResult

RUNNER_SOURCE: str = resources.files("phalanx.sandbox.server").joinpath("runner.py").read_text("utf-8")
"""Source of the in-sandbox server, passed to the sandbox's python3 with `-c`."""

DEFAULT_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    # One BLAS thread: an address-space limit is per process, and each BLAS thread
    # reserves its own arena, so numpy would fail to import under small limits.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class ByteStream(Protocol):
    """A blocking duplex byte stream with deadlines (seconds since the monotonic epoch)."""

    def read_exact(self, n: int, deadline: float) -> bytes: ...

    def write_all(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class ChannelBroken(Exception):
    """The stream ended, failed or passed its deadline: the sandbox on the other side is gone."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class FrameChannel:
    """Request/response frames over a `ByteStream`, one call at a time."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._next_id = 0
        self.broken = False

    def _frame(self, message: dict[str, Any]) -> bytes:
        """The next request as one length-prefixed frame (raises if the channel is broken)."""
        if self.broken:
            raise ChannelBroken("channel already broken")
        self._next_id += 1
        body = json.dumps({**message, "id": self._next_id}, separators=(",", ":")).encode("utf-8")
        return struct.pack(">I", len(body)) + body

    def _checked(self, reply: dict[str, Any]) -> dict[str, Any]:
        if reply.get("id") != self._next_id:
            self.broken = True
            raise ChannelBroken("sandbox replied out of order")
        return reply

    def call(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send `message` and wait up to `timeout_s` for its reply.

        Raises:
            ChannelBroken: the stream failed or timed out; the channel is unusable afterwards.
        """
        frame = self._frame(message)
        deadline = time.monotonic() + timeout_s
        try:
            self._stream.write_all(frame)
            (size,) = struct.unpack(">I", self._stream.read_exact(4, deadline))
            reply = json.loads(self._stream.read_exact(size, deadline).decode("utf-8"))
        except ChannelBroken:
            self.broken = True
            raise
        except (OSError, ValueError) as exc:
            self.broken = True
            raise ChannelBroken(f"sandbox stream failed: {exc}") from exc
        return self._checked(reply)

    async def acall(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Async `call` for streams with `awrite_all`/`aread_exact` (no thread hand-off).

        Raises:
            ChannelBroken: as `call`; also when the caller is cancelled mid-call (the stream's
                position is then unknown, so the channel is unusable).
        """
        frame = self._frame(message)
        stream: Any = self._stream
        try:
            async with asyncio.timeout(timeout_s):
                await stream.awrite_all(frame)
                (size,) = struct.unpack(">I", await stream.aread_exact(4))
                reply = json.loads((await stream.aread_exact(size)).decode("utf-8"))
        except TimeoutError as exc:
            self.broken = True
            raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True) from exc
        except ChannelBroken:
            self.broken = True
            raise
        except (OSError, ValueError) as exc:
            self.broken = True
            raise ChannelBroken(f"sandbox stream failed: {exc}") from exc
        except BaseException:
            self.broken = True
            raise
        return self._checked(reply)

    def close(self) -> None:
        self.broken = True
        self._stream.close()


def encode_request(request: ExecRequest, *, nproc: int | None) -> dict[str, Any]:
    """The runner's `exec` message for `request` (CPU limit derived from the wall limit when unset)."""
    lim = request.limits
    cpu_s = lim.cpu_s if lim.cpu_s is not None else max(1.0, math.ceil(lim.timeout_s) + 1.0)
    return {
        "op": "exec",
        "code": request.code,
        "argv": request.command,
        "stdin": request.stdin,
        "files": request.files,
        "collect": request.collect,
        "env": request.env,
        "base_env": DEFAULT_ENV,
        "coverage": request.coverage and request.code is not None,
        "limits": {
            "timeout_s": lim.timeout_s,
            "cpu_s": cpu_s,
            "memory_mb": lim.memory_mb,
            "max_output_bytes": lim.max_output_bytes,
            "max_file_size_mb": lim.max_file_size_mb,
            "max_open_files": lim.max_open_files,
            "nproc": nproc,
        },
    }


class RunnerRefused(SandboxUnavailable):
    """The runner declined a request without running it (its sandbox is not clean); safe to retry elsewhere."""


def decode_result(reply: dict[str, Any]) -> ExecResult:
    """Turn the runner's reply into an `ExecResult`.

    Raises:
        SandboxUnavailable: the runner rejected the request (a bug or an incompatible image).
    """
    if "error" in reply and reply.get("retry"):
        raise RunnerRefused(f"sandbox runner declined the request: {reply['error']}")
    if "error" in reply:
        raise SandboxUnavailable(f"sandbox server rejected the request: {reply['error']}")
    fields = set(ExecResult.model_fields)
    return ExecResult(**{k: v for k, v in reply.items() if k in fields})
