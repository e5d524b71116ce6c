"""phalanx.sandbox: isolated execution of programs (Docker warm pool; local for development only)."""

from typing import Any

from phalanx.sandbox.base import Sandbox, open_sandbox, register_sandbox, run_python
from phalanx.sandbox.doctor import Check, run_checks
from phalanx.sandbox.errors import SandboxConfigError, SandboxError, SandboxLost, SandboxUnavailable
from phalanx.sandbox.gc import reap_orphans
from phalanx.sandbox.types import ExecRequest, ExecResult, Limits

__all__ = [
    "Check",
    "DockerSandbox",
    "ExecRequest",
    "ExecResult",
    "Limits",
    "LocalSandbox",
    "Sandbox",
    "SandboxConfigError",
    "SandboxError",
    "SandboxLost",
    "SandboxUnavailable",
    "open_sandbox",
    "reap_orphans",
    "register_sandbox",
    "run_checks",
    "run_python",
]


def __getattr__(name: str) -> Any:
    # Backends load on first use, so `import phalanx.sandbox` stays light (no docker SDK import).
    if name == "DockerSandbox":
        from phalanx.sandbox.docker import DockerSandbox

        return DockerSandbox
    if name == "LocalSandbox":
        from phalanx.sandbox.local import LocalSandbox

        return LocalSandbox
    raise AttributeError(f"module 'phalanx.sandbox' has no attribute {name!r}")
