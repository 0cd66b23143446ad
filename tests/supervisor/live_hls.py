"""A live HLS server for pool tests: real H.264 (libx264 via PyAV) cut into 1 s MPEG-TS
segments, served on 127.0.0.1 through a sliding-window live playlist that advances with the
clock (no ENDLIST), so decoders see a camera-like endless stream with playlist reloads.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av

from kvs_pool.synth import VideoSpec, encode_file

WINDOW = 3


def encode_segments(directory: Path, spec: VideoSpec) -> list[tuple[float, str]]:
    """Encode ``spec`` (PyAV libx264), then remux it (no re-encode) with FFmpeg's HLS muxer
    into 1 s TS segments; returns (duration, file name) per segment."""
    clip = encode_file(directory / "clip.mp4", spec)
    options = {"hls_time": "1", "hls_list_size": "0", "hls_playlist_type": "vod",
               "hls_segment_filename": str(directory / "seg%d.ts")}
    with av.open(str(clip)) as src, \
            av.open(str(directory / "vod.m3u8"), "w", format="hls", options=options) as out:
        video = src.streams.video[0]
        add = getattr(out, "add_stream_from_template", None)  # PyAV >= 13; older: template=
        stream = add(video) if add else out.add_stream(template=video)
        for packet in src.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    segments, duration = [], 0.0
    for line in (directory / "vod.m3u8").read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((duration, line))
    return segments


def live_playlist(segments: list[tuple[float, str]], elapsed: float) -> str:
    """The live media playlist ``elapsed`` seconds after the stream started (wraps around)."""
    step = segments[0][0] or 1.0
    newest = int(elapsed / step) + WINDOW
    lines = ["#EXTM3U", "#EXT-X-VERSION:3",
             f"#EXT-X-TARGETDURATION:{int(max(d for d, _ in segments) + 0.999)}",
             f"#EXT-X-MEDIA-SEQUENCE:{newest - WINDOW}"]
    for n in range(newest - WINDOW, newest):
        duration, name = segments[n % len(segments)]
        if n and n % len(segments) == 0:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXTINF:{duration:.3f},", name]
    return "\n".join(lines) + "\n"


class _Handler(SimpleHTTPRequestHandler):
    server: LiveHLSServer

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] == "/live.m3u8":
            body = live_playlist(self.server.segments,
                                 time.monotonic() - self.server.started).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, fmt: str, *args: object) -> None:
        pass


class LiveHLSServer(ThreadingHTTPServer):
    """Serves ``/live.m3u8`` and the segments of ``directory``; ``url`` is the playlist."""

    daemon_threads = True

    def __init__(self, directory: Path, segments: list[tuple[float, str]]) -> None:
        super().__init__(("127.0.0.1", 0), partial(_Handler, directory=str(directory)))
        self.segments = segments
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/live.m3u8"

    def __enter__(self) -> LiveHLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
