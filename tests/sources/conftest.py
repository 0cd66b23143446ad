"""Shared fixtures of the source tests: real H.264 clips, a local HTTP server on 127.0.0.1
serving a directory (for HLS), a server that accepts and never answers, a refused port, and a
fake clock for backoff schedules.

The clips are encoded once per session by ``kvs_pool.synth`` (PyAV libx264), each frame stamped
with its own index so tests can check order, gaps and which frames sampling kept.
"""

from __future__ import annotations

import functools
import http.server
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# ``emu``: a loopback KVS emulator for the KVS source tests (defined beside their helpers).
from kvs_world import emu  # noqa: F401 - registered as a fixture of this directory

from kvs_pool.synth import VideoSpec, encode_file

CLIP_W, CLIP_H, CLIP_FPS, CLIP_GOP = 320, 180, 25, 50
HLS_OPTIONS = {"hls_time": "1", "hls_segment_type": "fmp4", "hls_playlist_type": "vod"}


def clip_spec(frames: int = 150, bframes: int = 0, gop: int = CLIP_GOP) -> VideoSpec:
    return VideoSpec(CLIP_W, CLIP_H, CLIP_FPS, gop, frames, bframes=bframes)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    """6 s, 25 fps, GOP 50, no B-frames (150 frames, indices 0..149)."""
    return encode_file(media_dir / "clip_b0.mp4", clip_spec())


@pytest.fixture(scope="session")
def clip_bframes(media_dir: Path) -> Path:
    """Like ``clip`` with 2 B-frames (reordering, non-reference pictures)."""
    return encode_file(media_dir / "clip_b2.mp4", clip_spec(bframes=2))


@pytest.fixture(scope="session")
def hls_dir(media_dir: Path) -> Path:
    """A VOD HLS stream (fMP4 segments of ~1 s... cut at key frames) of 150 frames."""
    out = media_dir / "hls"
    out.mkdir()
    encode_file(out / "index.m3u8", clip_spec(gop=25), fmt="hls", options=HLS_OPTIONS)
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class HttpServer:
    """A threaded static file server on 127.0.0.1; ``url(name)`` gives a file's URL."""

    directory: Path
    httpd: _Server = field(init=False)
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        handler = functools.partial(_QuietHandler, directory=str(self.directory))
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def serve_directory() -> Iterator[Callable[[Path], HttpServer]]:
    """Factory: ``serve_directory(path)`` starts an ``HttpServer``; all stop after the test."""
    servers: list[HttpServer] = []

    def start(directory: Path) -> HttpServer:
        servers.append(HttpServer(Path(directory)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hung_url() -> Iterator[str]:
    """An HTTP URL whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/index.m3u8"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def refused_url() -> str:
    """An HTTP URL on a port nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/index.m3u8"


@dataclass
class FakeTime:
    """A monotonic clock that only ``sleep`` advances; records every sleep."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
