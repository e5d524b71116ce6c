"""Errors of the sandbox layer.

A program that fails, crashes or hits a limit is *not* an error: it is an
`ExecResult`. These exceptions mean the sandbox itself could not do its job.
"""


class SandboxError(Exception):
    """Base class of every sandbox-layer error."""


class SandboxUnavailable(SandboxError):
    """The backend cannot run anything: daemon down, image missing, pool closed. Says how to fix it."""


class SandboxConfigError(SandboxError):
    """Bad configuration: unknown backend or image, limits out of range, invalid option."""
