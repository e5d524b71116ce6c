"""Errors of the sandbox layer.

A program that fails, crashes or hits a limit is *not* an error: it is an
`ExecResult`. These exceptions mean the sandbox itself could not do its job.
"""


class SandboxError(Exception):
    """Base class of every sandbox-layer error."""


class SandboxUnavailable(SandboxError):
    """The backend cannot run anything: daemon down, image missing, pool closed. Says how to fix it."""


class SandboxLost(SandboxUnavailable):
    """The sandbox died under a running program for a reason outside it (container killed from outside,
    daemon restarted), and the retries on fresh sandboxes died too.

    Says nothing about the program: its outcome is unknown, so it must not be scored; run it again
    later (a resumed batch does). A program that exhausts its own limits is a result, never this.
    """


class SandboxConfigError(SandboxError):
    """Bad configuration: unknown backend or image, limits out of range, invalid option."""
