"""Running program-of-thought answers in the sandbox, for R³'s PoT reward.

The R³ trainer (`phalanx.models.trainers`) is synchronous and never runs code; it takes a
`ProgramRunner`: programs in, stdout (or None) out. `SandboxProgramRunner` is that runner over
a phalanx sandbox (Docker by default). The sandbox is asynchronous, so the runner keeps its own
event loop on a background thread: the sandbox's pool lives on that one loop for its whole life,
whatever thread the trainer calls from.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from phalanx.sandbox import Limits, Sandbox, open_sandbox, run_python

T = TypeVar("T")


class SandboxProgramRunner:
    """`runner(programs) -> [stdout | None]`: each program run once in the sandbox, concurrently.

    None means the program did not finish cleanly (non-zero exit, time or memory limit) or the
    sandbox could not run it; R³ scores that as "no answer".

    Args:
        backend: `docker` (isolated, the default) or `local` (host processes: development only).
        image: Docker image recipe (`default` has plain Python).
        workers: warm containers.
        timeout_s: wall-clock limit per program (the official PoT executor allows 2 s).
        memory_mb: memory limit per program.

    Raises:
        SandboxUnavailable / SandboxConfigError: from the backend (daemon down, image missing).
    """

    def __init__(
        self,
        backend: str = "docker",
        *,
        image: str = "default",
        workers: int = 4,
        timeout_s: float = 2.0,
        memory_mb: int = 512,
    ) -> None:
        self.limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pot-sandbox", daemon=True)
        self._thread.start()
        options: dict[str, Any] = {"insecure": True} if backend == "local" else {"image": image}
        try:
            self.sandbox: Sandbox = self._call(self._open(backend, workers, options))
        except BaseException:
            self._stop()
            raise

    @staticmethod
    async def _open(backend: str, workers: int, options: dict[str, Any]) -> Sandbox:
        return open_sandbox(backend, pool_size=workers, **options)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _run_all(self, programs: Sequence[str]) -> list[str | None]:
        results = await asyncio.gather(
            *(run_python(self.sandbox, p, limits=self.limits) for p in programs), return_exceptions=True
        )
        out: list[str | None] = []
        for r in results:
            # A sandbox fault (SandboxError) is no answer either: the reward cannot wait for a retry.
            failed = isinstance(r, BaseException) or r.exit_code != 0 or r.timed_out or r.memory_exceeded
            out.append(None if failed else r.stdout)  # type: ignore[union-attr]
        return out

    def __call__(self, programs: list[str]) -> list[str | None]:
        """Run every program; their stdout in order (None where a program failed)."""
        return self._call(self._run_all(programs))

    def close(self) -> None:
        """Close the sandbox and stop the runner's loop."""
        try:
            self._call(self.sandbox.aclose())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxProgramRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
