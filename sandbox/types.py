"""Value types of the sandbox layer: limits, execution requests and results."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Limits(BaseModel):
    """Hard limits applied to one execution. Out-of-range values are rejected at construction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(10.0, gt=0, le=3600)
    """Wall-clock limit; the whole process group is killed when it passes."""
    cpu_s: float | None = Field(None, gt=0, le=3600)
    """CPU-time limit (RLIMIT_CPU); None derives it from timeout_s."""
    memory_mb: int = Field(512, ge=16, le=65536)
    """Address-space limit per process (RLIMIT_AS), in MiB."""
    max_output_bytes: int = Field(1_000_000, ge=1024, le=256_000_000)
    """Captured stdout and stderr are each cut at this many bytes (flagged as truncated); a program
    that writes past the cap is stopped there (`limits_hit` has `output`) rather than drained."""
    max_file_size_mb: int = Field(16, ge=1, le=4096)
    """Largest file the program may write (RLIMIT_FSIZE), in MiB."""
    max_processes: int = Field(64, ge=1, le=4096)
    """Processes/threads the program may have (RLIMIT_NPROC for the container's own uid; the
    container's pids cgroup caps it too; not applied by the local backend)."""
    max_open_files: int = Field(256, ge=16, le=65536)
    """Open file descriptors (RLIMIT_NOFILE)."""


class ExecRequest(BaseModel):
    """One program to run: python code or a command, with stdin and files."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = None
    """Python source to run with the sandbox's python3."""
    command: list[str] | None = None
    """An argv to run instead of `code`."""
    stdin: str = ""
    """Text fed to the program's standard input."""
    files: dict[str, str] = Field(default_factory=dict)
    """Files written into the empty work dir before the run (relative path -> text)."""
    collect: list[str] = Field(default_factory=list)
    """Relative paths read back from the work dir after the run (missing ones are skipped)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables."""
    limits: Limits = Field(default_factory=Limits)
    coverage: bool = False
    """Record executed line numbers of `code` (python only)."""

    @model_validator(mode="after")
    def _one_program(self) -> ExecRequest:
        if (self.code is None) == (self.command is None):
            raise ValueError("give exactly one of `code` or `command`")
        if self.command is not None and not self.command:
            raise ValueError("`command` must not be empty")
        for rel in [*self.files, *self.collect]:
            if rel.startswith("/") or ".." in rel.split("/"):
                raise ValueError(f"file path {rel!r} must be relative to the work dir, without '..'")
        return self


class ExecResult(BaseModel):
    """What happened when a program ran. Never raised: a failing program is a result."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    """Exit status; None when killed by a signal."""
    signal: int | None = None
    """Signal number that ended the program, if any."""
    timed_out: bool = False
    """The wall-clock or CPU limit was hit."""
    memory_exceeded: bool = False
    """The program hit the memory limit (MemoryError / allocation failure / OOM kill)."""
    limit_hit: bool = False
    """Any hard limit was hit (time, memory, processes, file size, output)."""
    limits_hit: list[str] = Field(default_factory=list)
    """Which limits were hit: `time`, `memory`, `output`, `processes`, `file_size`, `disk`, `files`, `sandbox`."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_s: float = 0.0
    cpu_s: float = 0.0
    files: dict[str, str] = Field(default_factory=dict)
    """Collected files (relative path -> text)."""
    coverage: dict[str, list[int]] | None = None
    """Executed line numbers per file (`<code>` for the submitted code) when asked for."""

    @property
    def ok(self) -> bool:
        """The program exited 0 without hitting a limit."""
        return self.exit_code == 0 and not self.timed_out and not self.limit_hit
