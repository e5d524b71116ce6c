"""Wire-protocol parsing: docker's multiplexed attach stream and the runner's frames (property-based)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.sandbox import ExecRequest, Limits
from phalanx.sandbox.docker.attach import AttachStream
from phalanx.sandbox.server.protocol import FrameChannel, decode_result, encode_request


def _bare_stream() -> AttachStream:
    stream = AttachStream.__new__(AttachStream)
    stream._raw = bytearray()
    stream._buf = bytearray()
    stream.stderr_tail = b""
    return stream


frames = st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(frames=frames, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_demux_reassembles_stdout_however_the_bytes_are_split(frames, cuts):
    wire = b"".join(bytes([kind, 0, 0, 0]) + struct.pack(">I", len(p)) + p for kind, p in frames)
    stream = _bare_stream()
    points = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    for a, b in zip(points, points[1:], strict=False):
        stream._feed(wire[a:b])
    assert bytes(stream._buf) == b"".join(p for kind, p in frames if kind == 1)
    assert stream.stderr_tail == b"".join(p for kind, p in frames if kind == 2)[-4096:]
    assert stream._raw == bytearray()


class _SocketStream:
    """A `ByteStream` over one end of a socketpair (the other end plays the runner)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def read_exact(self, n: int, deadline: float) -> bytes:
        buf = b""
        while len(buf) < n:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            buf += self.sock.recv(n - len(buf))
        return buf

    def write_all(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


@settings(max_examples=30, deadline=None)
@given(stdout=st.text(max_size=2000), code=st.text(min_size=1, max_size=500))
def test_frames_round_trip_requests_and_results(stdout, code):
    host, runner = socket.socketpair()
    seen = {}

    def fake_runner() -> None:
        (size,) = struct.unpack(">I", runner.recv(4, socket.MSG_WAITALL))
        msg = json.loads(runner.recv(size, socket.MSG_WAITALL))
        seen.update(msg)
        body = json.dumps({"id": msg["id"], "stdout": stdout, "exit_code": 0, "healthy": True}).encode()
        runner.sendall(struct.pack(">I", len(body)) + body)

    t = threading.Thread(target=fake_runner)
    t.start()
    channel = FrameChannel(_SocketStream(host))
    request = ExecRequest(code=code, limits=Limits(timeout_s=2))
    reply = channel.call(encode_request(request, nproc=8), 5)
    t.join()
    host.close()
    runner.close()
    assert seen["code"] == code and seen["limits"]["nproc"] == 8 and seen["limits"]["cpu_s"] >= 2
    result = decode_result(reply)
    assert result.stdout == stdout and result.ok
