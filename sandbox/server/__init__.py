"""The in-sandbox execution server (stdlib only) and the host side of its wire protocol.

`runner.py` is never imported inside the sandbox: its source is handed to the
sandbox's own python3 (`python3 -c SOURCE MODE`), so any image with python3 works
and nothing has to be mounted into the container.
"""

from phalanx.sandbox.server.protocol import RUNNER_SOURCE, FrameChannel, decode_result, encode_request

__all__ = ["RUNNER_SOURCE", "FrameChannel", "decode_result", "encode_request"]
