"""``live.mjpeg``: one viewer's multipart stream, fed from the shared encoder.

Each viewer runs in its own HTTP thread and only ever copies already-encoded bytes to its
socket: the encode itself is the shared one of ``FrameEncoder`` (one per new frame, whatever
the number of viewers). A frame is sent when the ring has a newer one than the viewer last got,
checked ``fps`` times a second, so a viewer gets at most the camera's sampled rate. The socket
has a write timeout: a viewer that stops reading blocks only its own thread, and only until
the timeout closes its connection; a viewer that hangs up is noticed between frames.

Wire format (``multipart/x-mixed-replace``, as browsers' ``<img>`` expects)::

    --frame\\r\\n
    Content-Type: image/jpeg\\r\\n
    Content-Length: <n>\\r\\n
    X-Frame-Seq: <ring sequence>\\r\\n
    \\r\\n
    <n bytes of JPEG>\\r\\n
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from kvs_pool.web.frames import FrameEncoder, NoFrame

__all__ = ["BOUNDARY", "MjpegRequest", "stream_mjpeg"]

log = logging.getLogger(__name__)

BOUNDARY = "frame"
WRITE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MjpegRequest:
    """What one viewer asked for."""

    camera_id: str
    fps: float
    width: int | None


def stream_mjpeg(handler: BaseHTTPRequestHandler, encoder: FrameEncoder, req: MjpegRequest,
                 stop: threading.Event) -> int:
    """Stream until the client goes, the socket times out or ``stop`` is set; frames sent."""
    handler.connection.settimeout(WRITE_TIMEOUT_S)
    handler.send_response(200)
    handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    handler.send_header("Cache-Control", "no-store")
    handler.send_header("Connection", "close")
    handler.end_headers()
    interval, last, sent = 1.0 / req.fps, 0, 0
    try:
        while not stop.is_set():
            try:
                jpeg = encoder.latest(req.camera_id, req.width)
            except NoFrame:
                jpeg = None
            if jpeg is not None and jpeg.seq != last:
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg.data)}\r\nX-Frame-Seq: {jpeg.seq}\r\n\r\n")
                handler.wfile.write(head.encode() + jpeg.data + b"\r\n")
                last, sent = jpeg.seq, sent + 1
            if _client_left(handler.connection, interval):
                break
    except (OSError, TimeoutError) as exc:  # gone, reset, or stalled past the write timeout
        log.debug("mjpeg %s viewer %s left: %s", req.camera_id, handler.client_address, exc)
    handler.close_connection = True
    return sent


def _client_left(sock: socket.socket, wait_s: float) -> bool:
    """Wait up to ``wait_s``; True if the client closed its side meanwhile. Without this a
    viewer of a camera with no new frames would hold its thread until the next write fails.
    Bytes a client sends after its request are read and ignored."""
    readable, _, _ = select.select([sock], [], [], wait_s)
    if not readable:
        return False
    try:
        return sock.recv(4096) == b""
    except (BlockingIOError, InterruptedError):
        return False
