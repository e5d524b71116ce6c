"""One hardened sandbox container running the runner, and the blocking calls made on it."""

from __future__ import annotations

import asyncio
import os
import random
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from phalanx.sandbox.docker.attach import AttachStream
from phalanx.sandbox.docker.unix_socket import (
    MOUNT_POINT,
    SOCKET_NAME,
    UnixSocketStream,
    make_socket_dir,
    remove_socket_dir,
)
from phalanx.sandbox.errors import SandboxConfigError, SandboxLost, SandboxUnavailable
from phalanx.sandbox.gc import LABEL, process_start_ticks
from phalanx.sandbox.server.protocol import (
    RUNNER_SOURCE,
    ChannelBroken,
    FrameChannel,
    RunnerRefused,
    decode_result,
    encode_request,
)
from phalanx.sandbox.types import ExecRequest, ExecResult

WORK_DIR = "/work"
HELLO_TIMEOUT_S = 30.0
SOCKET_WAIT_S = 10.0
"""How long a started runner may take to open its socket before the socket transport is given up."""
IDLE_PING_S = 30.0
"""A container idle for longer is pinged before it gets a program."""
PING_TIMEOUT_S = 5.0
REPLY_GRACE_S = 15.0
"""How long past the wall limit the host waits for a reply before declaring the container dead."""


class SocketTransportUnusable(SandboxUnavailable):
    """The runner's bind-mounted socket never became visible on this host; the attach transport still works."""


@dataclass(frozen=True)
class ContainerConfig:
    """Resources and hardening of each pool container (per-execution limits come with each request)."""

    image_ref: str
    image_name: str
    memory_mb: int = 1024
    """cgroup memory limit of the whole container (tmpfs pages count against it too)."""
    cpus: float = 1.0
    cpu_shares: int = 4096
    """Relative CPU weight of the container's cgroup under contention (docker's default: 1024).

    All processes of a container share ONE weight against the other containers on the host, so
    beside busy containers a 1024-weight sandbox waits its turn and a request's few milliseconds
    of work take tens of ms (measured here: p50 30 ms at 1024, 10 ms at 4096 on a loaded host).
    `cpus` still caps what a program can take."""
    pids_limit: int = 256
    work_size_mb: int = 64
    tmp_size_mb: int = 16
    runtime: str | None = None
    """OCI runtime, e.g. `runsc` (gVisor); None uses the daemon's default."""
    preload: tuple[str, ...] = ()
    """Modules the runner imports once at start, so each forked program finds them loaded."""
    transport: str = "socket"
    """`socket` (bind-mounted unix socket, local daemons) or `attach` (through the daemon; works anywhere)."""
    labels: dict[str, str] = field(default_factory=dict)


def owner_labels(pool_id: str) -> dict[str, str]:
    """Labels naming the process that owns a container, so a reaper can tell orphans apart."""
    return {
        LABEL: "1",
        "phalanx.owner_host": socket.gethostname(),
        "phalanx.owner_pid": str(os.getpid()),
        "phalanx.owner_start": str(process_start_ticks(os.getpid())),
        "phalanx.pool": pool_id,
    }


class SandboxContainer:
    """A started container whose runner answers on a unix socket or the attach stream.

    `start` and `destroy` block (call them from threads); `aexecute` is async.
    """

    def __init__(self, client: Any, config: ContainerConfig) -> None:
        self._client = client
        self.config = config
        # A uid of its own per container: RLIMIT_NPROC counts processes per uid host-wide,
        # so a shared uid would make one container's processes count against another's.
        self.uid = random.randint(200_000, 899_999)
        self.id: str | None = None
        self.uses = 0
        self._last_used = time.monotonic()
        self.dead = False
        self._stream: AttachStream | UnixSocketStream | None = None
        self._sock_dir: str | None = None
        self._channel: FrameChannel | None = None

    def start(self) -> SandboxContainer:
        """Create and start the container and wait for the runner's hello.

        Raises:
            SandboxConfigError: the image cannot run the runner (no python3, python too old).
            SandboxUnavailable: docker failed to create or start it.
        """
        import docker.errors

        try:
            container = self._client.containers.create(**self._create_options())
        except docker.errors.APIError as exc:
            if self._sock_dir:
                remove_socket_dir(self._sock_dir)
            raise SandboxUnavailable(
                f"docker could not create a sandbox container: {exc.explanation or exc}"
            ) from exc
        self.id = container.id
        try:
            self._boot(container)
        except BaseException:
            self.destroy()
            raise
        return self

    def _create_options(self) -> dict[str, Any]:
        """The hardened container: no network, read-only root, private tmpfs dirs owned by its own
        uid, no capabilities, memory / CPU / pid limits, and the runner as its only process."""
        cfg = self.config
        command = ["python3", "-E", "-s", "-B", "-c", RUNNER_SOURCE, "container", WORK_DIR]
        labels = {**cfg.labels, "phalanx.image": cfg.image_name}
        volumes = {}
        if cfg.transport == "socket":
            self._sock_dir = make_socket_dir(self.uid)
            volumes[self._sock_dir] = {"bind": MOUNT_POINT, "mode": "rw"}
            command.append(f"{MOUNT_POINT}/{SOCKET_NAME}")
            labels["phalanx.socket_dir"] = self._sock_dir
        options: dict[str, Any] = dict(
            image=cfg.image_ref,
            command=command,
            volumes=volumes,
            user=f"{self.uid}:{self.uid}",
            network_mode="none",
            read_only=True,
            tmpfs={
                # Owned by this container's uid, private: the runner empties it after every run.
                WORK_DIR: f"size={cfg.work_size_mb}m,uid={self.uid},gid={self.uid},mode=0700,exec",
                "/tmp": f"size={cfg.tmp_size_mb}m,mode=1777",
            },
            shm_size=f"{cfg.tmp_size_mb}m",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=f"{cfg.memory_mb}m",
            memswap_limit=f"{cfg.memory_mb}m",
            nano_cpus=int(cfg.cpus * 1e9),
            cpu_shares=cfg.cpu_shares,
            pids_limit=cfg.pids_limit,
            ipc_mode="private",
            labels=labels,
            # The runner's own environment: one BLAS thread, so a preloaded numpy starts no
            # thread pool before the runner forks.
            environment={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            },
            stdin_open=cfg.transport == "attach",
            tty=False,
            detach=True,
        )
        if cfg.runtime:
            options["runtime"] = cfg.runtime
        return options

    def _boot(self, container: Any) -> None:
        """Start the created container, connect to its runner and check the runner's hello."""
        import docker.errors

        cfg = self.config
        if cfg.transport == "attach":
            self._stream = AttachStream(self._client.api, container.id)
            self._channel = FrameChannel(self._stream)
        try:
            container.start()
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            if "executable file not found" in text or "no such file" in text.lower():
                raise SandboxConfigError(
                    f"image {cfg.image_name!r} has no python3 on PATH; phalanx needs python3 >= 3.8 with "
                    "its standard library in the image (build one with `phalanx sandbox build-image`)"
                ) from exc
            raise SandboxUnavailable(f"docker could not start a sandbox container: {text}") from exc
        try:
            if self._channel is None:
                self._channel = FrameChannel(self._connect_socket())
            hello = self._channel.call({"op": "hello", "preload": list(cfg.preload)}, HELLO_TIMEOUT_S)
        except ChannelBroken as exc:
            raise self._diagnose_start_failure(exc) from exc
        if not hello.get("healthy", False) or hello.get("uid") != self.uid:
            raise SandboxUnavailable(f"sandbox runner reported an unexpected state: {hello}")

    def _connect_socket(self) -> UnixSocketStream:
        """Wait for the runner's unix socket to appear in the bind-mounted dir, and connect."""
        assert self._sock_dir is not None
        try:
            self._stream = UnixSocketStream(
                self._sock_dir, time.monotonic() + SOCKET_WAIT_S, self._running_probe()
            )
        except ChannelBroken as exc:
            if self._running_probe()():
                # Running, yet no socket appeared: the daemon does not see this host's
                # directory (rootless, remote or VM-hosted docker).
                raise SocketTransportUnusable(str(exc)) from exc
            raise
        return self._stream

    def _running_probe(self):
        """A cheap `is the container still running?` for the connect loop (asks docker twice a second)."""
        last = [0.0, True]

        def alive() -> bool:
            now = time.monotonic()
            if now - last[0] > 0.5:
                last[0] = now
                try:
                    last[1] = bool(self._client.api.inspect_container(self.id)["State"]["Running"])
                except Exception:
                    last[1] = False
            return bool(last[1])

        return alive

    def _diagnose_start_failure(self, exc: ChannelBroken) -> Exception:
        if isinstance(self._stream, AttachStream):
            tail = self._stream.stderr_tail.decode("utf-8", "replace")
        else:
            try:
                tail = self._client.api.logs(self.id, stdout=False, stderr=True, tail=30).decode(
                    "utf-8", "replace"
                )
            except Exception:
                tail = ""
        if "SyntaxError" in tail or "No module named" in tail:
            return SandboxConfigError(
                f"image {self.config.image_name!r}: its python3 cannot run the phalanx runner (needs python >= 3.8 "
                f"with the standard library): {tail.strip()[-400:]}"
            )
        return SandboxUnavailable(
            f"sandbox container did not come up: {exc}" + (f"; stderr: {tail[-400:]}" if tail else "")
        )

    def looks_alive(self) -> bool:
        """Cheap check before reuse: an idle channel must have nothing to read (EOF = the runner exited)."""
        if self.dead or self._stream is None:
            return False
        try:
            readable, _, _ = select.select([self._stream.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable and not self._stream.has_unread()

    async def aexecute(self, request: ExecRequest) -> ExecResult:
        """Run one request; a container that dies or stops answering is marked dead.

        Raises:
            RunnerRefused: nothing ran (an idle container stopped answering, or it is not clean).
            SandboxLost: the container died under the program without running out of memory or time.
        """
        assert self._channel is not None
        if time.monotonic() - self._last_used > IDLE_PING_S:
            # Idle for a while (paused, frozen, killed without closing the socket?): ask first, so a
            # program is never sent into a container that cannot answer. Nothing has run yet.
            try:
                await self._channel.acall({"op": "ping"}, PING_TIMEOUT_S)
            except ChannelBroken as exc:
                self.dead = True
                raise RunnerRefused(f"an idle sandbox container stopped answering: {exc}") from exc
        self.uses += 1
        # +1 for the runner itself (same uid); the container's pids cgroup caps the total anyway.
        nproc = min(request.limits.max_processes, self.config.pids_limit - 1) + 1
        message = encode_request(request, nproc=nproc)
        start = time.monotonic()
        try:
            reply = await self._channel.acall(message, request.limits.timeout_s + REPLY_GRACE_S)
        except ChannelBroken as exc:
            self.dead = True
            oom = await asyncio.get_running_loop().run_in_executor(None, self._oom_killed)
            if not oom and not exc.timed_out:
                # Killed from outside (docker kill, daemon restart, host OOM outside the cgroup): the
                # program cannot do this (the runner is PID 1 of the container and ignores its
                # signals), so this says nothing about the program.
                raise SandboxLost(f"the sandbox container died during this execution ({exc})") from exc
            # Out of memory as a whole, or silent past the wall limit: the program's own doing.
            reason = "did not answer" if exc.timed_out else "ran out of memory"
            return ExecResult(
                stderr=f"[phalanx] the sandbox container {reason} during this execution ({exc}); it is replaced",
                exit_code=None,
                signal=9,
                timed_out=exc.timed_out,
                memory_exceeded=oom,
                limit_hit=True,
                limits_hit=sorted(
                    {"sandbox"} | ({"memory"} if oom else set()) | ({"time"} if exc.timed_out else set())
                ),
                wall_s=time.monotonic() - start,
            )
        except BaseException:
            self.dead = True
            raise
        self._last_used = time.monotonic()
        if not reply.get("healthy", True):
            self.dead = True
        return decode_result(reply)

    def _oom_killed(self) -> bool:
        try:
            state = self._client.api.inspect_container(self.id)["State"]
            return bool(state.get("OOMKilled"))
        except Exception:
            return False

    def destroy(self) -> None:
        """Force-remove the container (idempotent, never raises)."""
        self.dead = True
        if self._channel is not None:
            self._channel.close()
        if self.id is None:
            if self._sock_dir:
                remove_socket_dir(self._sock_dir)
            return
        try:
            self._client.api.remove_container(self.id, force=True, v=True)
        except Exception:
            pass
        if self._sock_dir:
            remove_socket_dir(self._sock_dir)
        self.id = None
