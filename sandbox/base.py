"""The `Sandbox` seam and the backend registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from phalanx.sandbox.errors import SandboxConfigError
from phalanx.sandbox.types import ExecRequest, ExecResult, Limits


@runtime_checkable
class Sandbox(Protocol):
    """An isolated place to run programs.

    Contract:
      * `execute` runs one program in a fresh process and an empty work dir;
        nothing from one execution is visible to the next.
      * A program that fails, times out or hits a limit returns an `ExecResult`
        describing it; `execute` raises only `SandboxUnavailable` (the backend
        cannot run anything, or `SandboxLost`: the sandbox died under the program
        for a reason outside it, after retries) or `SandboxConfigError` (bad
        request/options). An exception is never the program's verdict: a caller
        scoring programs records it as "not run" and tries again later.
      * Safe to call concurrently; back-pressure is the backend's job.
      * `aclose` releases every resource (containers, processes); idempotent.
    """

    name: str

    async def execute(self, request: ExecRequest) -> ExecResult: ...

    async def aclose(self) -> None: ...


async def run_python(
    sandbox: Sandbox,
    code: str,
    *,
    stdin: str = "",
    files: dict[str, str] | None = None,
    limits: Limits | None = None,
    coverage: bool = False,
    collect: list[str] | None = None,
) -> ExecResult:
    """Run python `code` in `sandbox` (a convenience over `Sandbox.execute`)."""
    return await sandbox.execute(
        ExecRequest(
            code=code,
            stdin=stdin,
            files=files or {},
            limits=limits or Limits(),
            coverage=coverage,
            collect=collect or [],
        )
    )


SandboxFactory = Callable[..., Sandbox]
_BACKENDS: dict[str, SandboxFactory] = {}


def register_sandbox(name: str) -> Callable[[SandboxFactory], SandboxFactory]:
    """Register a sandbox backend under `name` (used by `open_sandbox` and `--sandbox NAME`)."""

    def deco(factory: SandboxFactory) -> SandboxFactory:
        _BACKENDS[name] = factory
        return factory

    return deco


def open_sandbox(name: str = "docker", **options: Any) -> Sandbox:
    """Create a sandbox backend by name with backend-specific options.

    Raises:
        SandboxConfigError: unknown backend name.
    """
    import importlib

    for mod in ("docker", "local", "ray_pool"):
        try:
            importlib.import_module(f"phalanx.sandbox.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"phalanx.sandbox.{mod}":
                raise
    if name not in _BACKENDS:
        raise SandboxConfigError(f"unknown sandbox backend {name!r}; known: {', '.join(sorted(_BACKENDS))}")
    return _BACKENDS[name](**options)
