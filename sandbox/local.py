"""`LocalSandbox`: the runner as local subprocesses with rlimits. For development only: NOT isolation.

It shares the runner, the protocol and the warm pool with the Docker backend,
so it behaves the same (fresh forked process, limits, output caps, coverage),
but the program runs as you, with your network and your files. It must be
asked for explicitly: `open_sandbox("local", insecure=True)`.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

from phalanx.sandbox.base import register_sandbox
from phalanx.sandbox.docker.pool import WarmPool
from phalanx.sandbox.errors import SandboxConfigError, SandboxUnavailable
from phalanx.sandbox.server.protocol import (
    RUNNER_SOURCE,
    ChannelBroken,
    FrameChannel,
    decode_result,
    encode_request,
)
from phalanx.sandbox.types import ExecRequest, ExecResult

INSECURE_WARNING = (
    "phalanx local sandbox: programs run as your user with your network and files; rlimits only, "
    "this is NOT isolation. Use the docker sandbox for untrusted code."
)


class _PipeStream:
    """Blocking byte stream over a child process's stdin/stdout pipes, with deadlines."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._proc = proc
        self._out = proc.stdout.fileno()  # type: ignore[union-attr]
        self._in = proc.stdin.fileno()  # type: ignore[union-attr]

    def read_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelBroken("no reply from the local runner before the deadline", timed_out=True)
            ready, _, _ = select.select([self._out], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._out, min(n - len(buf), 1 << 20))
            if not chunk:
                raise ChannelBroken("the local runner exited")
            buf += chunk
        return bytes(buf)

    def write_all(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._in, view) :]
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the local runner: {exc}") from exc

    def fileno(self) -> int:
        return self._out

    def close(self) -> None:
        for f in (self._proc.stdin, self._proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except OSError:
                pass


class LocalRunner:
    """One runner subprocess (pool member)."""

    def __init__(self, python: str, work_root: str) -> None:
        self.uses = 0
        self.dead = False
        self._proc = subprocess.Popen(
            [python, "-E", "-s", "-B", "-c", RUNNER_SOURCE, "local", work_root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._stream = _PipeStream(self._proc)
        self._channel = FrameChannel(self._stream)
        try:
            self._channel.call({"op": "hello"}, 30)
        except ChannelBroken as exc:
            self.destroy()
            raise SandboxUnavailable(f"the local runner ({python}) did not start: {exc}") from exc

    def looks_alive(self) -> bool:
        if self.dead or self._proc.poll() is not None:
            return False
        readable, _, _ = select.select([self._stream.fileno()], [], [], 0)
        return not readable

    def execute(self, request: ExecRequest) -> ExecResult:
        self.uses += 1
        start = time.monotonic()
        try:
            reply = self._channel.call(encode_request(request, nproc=None), request.limits.timeout_s + 15)
        except ChannelBroken as exc:
            self.dead = True
            return ExecResult(
                stderr=f"[phalanx] the local runner died during this execution ({exc}); it is replaced",
                signal=9,
                timed_out=exc.timed_out,
                limit_hit=True,
                limits_hit=["sandbox"],
                wall_s=time.monotonic() - start,
            )
        if not reply.get("healthy", True):
            self.dead = True
        return decode_result(reply)

    def destroy(self) -> None:
        self.dead = True
        self._channel.close()
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, 9)
            except OSError:
                pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


@register_sandbox("local")
class LocalSandbox:
    """Development backend: forked local processes with rlimits (see module docstring).

    Args:
        insecure: must be True; acknowledges that this is not isolation.
        pool_size: runner processes kept warm.
        python: interpreter for the runner (default: the current one).
        max_uses: executions per runner before it is replaced.
        acquire_timeout_s: longest wait for a free runner.
        image: accepted for CLI symmetry and ignored.

    Raises:
        SandboxConfigError: `insecure` not set, or a bad option.
    """

    name = "local"

    def __init__(
        self,
        *,
        insecure: bool = False,
        pool_size: int = 2,
        python: str | None = None,
        max_uses: int = 500,
        acquire_timeout_s: float = 120.0,
        max_waiters: int = 1024,
        image: str | None = None,
    ) -> None:
        if not insecure:
            raise SandboxConfigError(
                "the local sandbox is not isolation; ask for it explicitly with "
                "open_sandbox('local', insecure=True) or `--sandbox local`, or use the docker sandbox"
            )
        if not 1 <= pool_size <= 256:
            raise SandboxConfigError(f"pool_size={pool_size} is out of range; use 1..256")
        warnings.warn(INSECURE_WARNING, UserWarning, stacklevel=3)
        self.python = python or sys.executable
        if shutil.which(self.python) is None and not os.path.exists(self.python):
            raise SandboxConfigError(f"python interpreter {self.python!r} not found")
        self._root = tempfile.mkdtemp(prefix="phalanx-local-sandbox-")
        self.pool: WarmPool[LocalRunner] = WarmPool(
            lambda: LocalRunner(self.python, self._root),
            size=pool_size,
            max_uses=max_uses,
            acquire_timeout_s=acquire_timeout_s,
            max_waiters=max_waiters,
        )

    async def execute(self, request: ExecRequest) -> ExecResult:
        runner = await self.pool.acquire()
        recycle = True
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool.exec_threads, runner.execute, request
            )
            recycle = result.limit_hit or runner.dead
            return result
        finally:
            self.pool.release(runner, recycle=recycle)

    async def warm_up(self) -> None:
        """Start the runners now rather than on first use (and wait until one is ready)."""
        self.pool.warm_up()
        runner = await self.pool.acquire(timeout_s=max(self.pool.acquire_timeout_s, 60.0))
        self.pool.release(runner)

    async def aclose(self) -> None:
        await self.pool.aclose()
        shutil.rmtree(self._root, ignore_errors=True)

    def close(self) -> None:
        self.pool.close_sync()
        shutil.rmtree(self._root, ignore_errors=True)

    async def __aenter__(self) -> LocalSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
