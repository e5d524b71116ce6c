"""The runner's protocol over a bind-mounted unix socket: host <-> runner with no daemon in between.

The attach stream passes every byte through dockerd and containerd-shim, two
extra processes to wake per direction. A unix socket in a per-container host
directory mounted at /run/phalanx avoids both, which matters most on a busy
host. Once the host has connected, it deletes the socket file and makes the
directory read-only to the container's uid (the host owns it; the sandbox has no
capabilities), so programs cannot use the mount to write to the host's disk.
Used when the daemon is local (DOCKER_HOST is a unix socket); otherwise the
attach stream is used.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time

from phalanx.sandbox.server.protocol import ChannelBroken

MOUNT_POINT = "/run/phalanx"
SOCKET_NAME = "runner.sock"
RECV_SIZE = 1 << 16


def make_socket_dir(uid: int) -> str:
    """A fresh host directory the container's `uid` may create its socket in."""
    base = os.environ.get("PHALANX_SOCKET_DIR") or tempfile.gettempdir()
    path = tempfile.mkdtemp(prefix="phalanx-sock-", dir=base)
    os.chmod(path, 0o700)
    try:
        os.chown(path, uid, uid)
    except PermissionError:
        # Not root: let anyone create entries; the dir is locked again right after connecting.
        os.chmod(path, 0o733)
    return path


class UnixSocketStream:
    """Blocking and async byte stream over the connected unix socket."""

    def __init__(self, sock_dir: str, deadline: float, alive) -> None:
        self.sock_dir = sock_dir
        path = os.path.join(sock_dir, SOCKET_NAME)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline or not alive():
                    sock.close()
                    raise ChannelBroken("the sandbox runner never opened its socket") from None
                time.sleep(0.005)
        self._sock = sock
        self._buf = bytearray()
        self._lock_dir()

    def _lock_dir(self) -> None:
        try:
            os.unlink(os.path.join(self.sock_dir, SOCKET_NAME))
        except OSError:
            pass
        try:
            os.chown(self.sock_dir, os.getuid(), os.getgid())
        except OSError:
            pass
        os.chmod(self.sock_dir, 0o555)

    def read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True)
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(RECV_SIZE)
            except TimeoutError as exc:
                raise ChannelBroken("no reply from the sandbox before the deadline", timed_out=True) from exc
            except OSError as exc:
                raise ChannelBroken(f"runner socket failed: {exc}") from exc
            if not chunk:
                raise ChannelBroken("sandbox container went away")
            self._buf += chunk
        return self._take(n)

    def write_all(self, data: bytes) -> None:
        try:
            self._sock.settimeout(30)
            self._sock.sendall(data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    async def aread_exact(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        while len(self._buf) < n:
            try:
                chunk = await loop.sock_recv(self._sock, RECV_SIZE)
            except OSError as exc:
                raise ChannelBroken(f"runner socket failed: {exc}") from exc
            if not chunk:
                raise ChannelBroken("sandbox container went away")
            self._buf += chunk
        return self._take(n)

    async def awrite_all(self, data: bytes) -> None:
        self._sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except OSError as exc:
            raise ChannelBroken(f"cannot write to the sandbox: {exc}") from exc

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def fileno(self) -> int:
        return self._sock.fileno()

    def has_unread(self) -> bool:
        return bool(self._buf)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
        remove_socket_dir(self.sock_dir)


def remove_socket_dir(path: str) -> None:
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)
