"""phalanx.sandbox: isolated execution of programs (Docker warm pool; local for development only)."""

from phalanx.sandbox.base import Sandbox, open_sandbox, register_sandbox, run_python
from phalanx.sandbox.errors import SandboxConfigError, SandboxError, SandboxUnavailable
from phalanx.sandbox.types import ExecRequest, ExecResult, Limits

__all__ = [
    "ExecRequest",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxConfigError",
    "SandboxError",
    "SandboxUnavailable",
    "open_sandbox",
    "register_sandbox",
    "run_python",
]
