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

import os
import shutil
import socket
import tempfile
import time

from phalanx.sandbox.docker.socket_channel import SocketChannel
from phalanx.sandbox.server.protocol import ChannelBroken

MOUNT_POINT = "/run/phalanx"
SOCKET_NAME = "runner.sock"


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


class UnixSocketStream(SocketChannel):
    """Blocking and async byte stream over the connected unix socket."""

    _failure = "runner socket failed"

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
        super().__init__(sock)
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

    def close(self) -> None:
        self._close_socket()
        remove_socket_dir(self.sock_dir)


def remove_socket_dir(path: str) -> None:
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)
