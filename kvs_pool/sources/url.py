"""``URLFrameSource``: frames of a file, an RTSP camera or an HTTP(S) HLS stream, decoded into
buffers the caller lends, reconnecting by itself.

::

    opts = URLSourceOptions(target_fps=5)
    with URLFrameSource("rtsp://10.0.0.7/stream1", opts, camera_id="gate") as source:
        for bgr, capture_ts in source.read_frames(into=writer.loan):
            ...

Connection loop: open (``CONNECTING``) -> frames (``CONNECTED``) -> the stream ends, a read fails
or times out, or no frame is delivered for ``frame_timeout`` -> ``RECONNECTING``: wait the shared
``Backoff`` delay (sleeping in <= 1 s steps, calling ``on_progress`` after each, returning at
once on stop) and open again; after ``max_consecutive_errors`` failures in a row the state is
``ERROR`` and ``read_frames`` raises ``FrameSourceError`` (the supervisor restarts the worker
with its own backoff). A connection that lived ``backoff.reset_after_s`` reconnects at once.

Timeouts (``URLSourceOptions``; None picks these): open 5 s; read 5 s for RTSP, 8 s for HTTP(S).
FFmpeg may wait a timeout twice before giving up, so a dead server blocks a read <= 2 x 8 s =
16 s, under the supervisor's default 20 s heartbeat timeout. HLS needs a read timeout longer
than its fragment duration (a shorter one kills a healthy stream): raise ``read_timeout_s`` for
streams with fragments over ~6 s, and the heartbeat timeout above twice it. Files: no timeouts.

Files (``file://`` or a plain path) end by default; ``loop=True`` starts them again at the end (a
camera for demos and tests; timestamps keep counting), ``realtime=True`` paces them at their own
rate (otherwise as fast as they decode). ``kvs_pool.workers.params.url_source_options`` turns both
on for files: a camera in the config behaves like a camera. For capture timestamps see
``kvs_pool.sources.timeline``.

Pacing (``pace=True``, the default, for RTSP and HTTP(S)): FFmpeg reads live HLS one fragment at
a time and decodes it at once, so unpaced its frames come in bursts of a fragment (at 5 fps from
1 s fragments: 5 frames within ~10 ms, then nothing for a second), lapping a ring's 8 slots. The
source releases each kept frame at its stream time instead, with the KVS source's
``kvs_pool.sources.pacing.Pacer`` (live: the frame's pts; real-time files: the playback
position, so both share one pacer). The wait comes after the decode and before the frame takes
the caller's buffer: the reader holds the decoded frame (cv2 inside FFmpeg between ``grab()``
and ``retrieve(buf)``, PyAV as its YUV frame) and fills the loaned slot once it is due, so
pacing adds no copy and no slot is held while waiting. RTSP comes at real time: pacing only
smooths its jitter. ``pace=False`` gives the raw bursts.

RTSP: ``transport`` picks ``tcp`` (the default: interleaved in the RTSP connection, no loss,
passes NAT) or ``udp`` (RTP over UDP: less latency, loses packets on a lossy network). A
camera's credentials come from the config's ``username`` and a password read from the
environment or a file (``kvs_pool.secrets``) when the source opens; ``with_credentials`` puts
them into the URL FFmpeg gets, and every log line, error and the default camera id show the URL
through ``redact`` (no user, no password, no query string).
"""

from __future__ import annotations

import inspect
import logging
import random
import urllib.parse
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kvs_pool.backoff import Backoff, BackoffPolicy
from kvs_pool.errors import FrameSourceError
from kvs_pool.sources.base import (
    BufferFactory,
    SourceControl,
    SourceState,
    SourceStats,
    allocate,
    frame_timeout,
)
from kvs_pool.sources.decoders import AvReader, Cv2Reader, ReaderSettings, redact
from kvs_pool.sources.pacing import Pacer
from kvs_pool.sources.timeline import Timeline

__all__ = ["URLSourceOptions", "URLFrameSource", "is_file_url", "with_credentials", "DEFAULT_TIMEOUTS",
           "TRANSPORTS"]

log = logging.getLogger(__name__)

# scheme -> (open timeout s, read timeout s); files have none.
DEFAULT_TIMEOUTS = {"rtsp": (5.0, 5.0), "rtsps": (5.0, 5.0), "http": (5.0, 8.0),
                    "https": (5.0, 8.0)}
# RTSP over TCP (no UDP loss, passes NAT); live HLS from the newest fragment, not 3 behind.
DEFAULT_FFMPEG_OPTIONS = {"rtsp": {"rtsp_transport": "tcp"}, "rtsps": {"rtsp_transport": "tcp"},
                          "http": {"live_start_index": "-1"}, "https": {"live_start_index": "-1"}}
BACKENDS = ("auto", "cv2", "av")
TRANSPORTS = ("tcp", "udp")   # FFmpeg's rtsp_transport values we support
# Pacer horizon: FFmpeg does not tell fragment durations, so one figure that covers common HLS
# (1-2 s KVS fragments, playlist reloads waiting half a target duration); later by more than
# this re-anchors instead of catching up, due more than twice it ahead (a pts jump) too.
PACE_HORIZON_S = 2.0
# Catch-up rate, gentler than the KVS source's 2x: FFmpeg's HLS demuxer fetches the next
# fragment only when asked, and reloads its playlist no sooner than a fragment after the last
# reload (in 100 ms sleeps), so its fragments settle at a fixed lateness that catching up cannot
# repay (measured at 5 fps: 2x gave gaps of 600/100/100/100/100 ms, 1.25x 400/160/160/160/160).
# 1.25x still absorbs fetches up to a quarter of a fragment plus a frame interval.
PACE_CATCH_UP = 1.25
_STOP, _END, _LOOP, _LOST = "stop", "end", "loop", "lost"
_Frames = Generator[tuple[np.ndarray, float], None, None]


@dataclass(frozen=True)
class URLSourceOptions:
    """How a URL source decodes, samples, times out and reconnects."""

    target_fps: float | None = None          # frames kept per second; None: every frame
    loop: bool = False                       # files: start again at the end
    realtime: bool = False                   # files: pace playback at the stream's rate
    pace: bool = True                        # rtsp/http(s): release frames at the stream's rate
    open_timeout_s: float | None = None      # None: DEFAULT_TIMEOUTS by scheme
    read_timeout_s: float | None = None
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    frame_timeout_s: float | None = None     # no delivered frame this long: reconnect (None: derived)
    max_consecutive_errors: int = 10         # 0: never give up
    decode_threads: int = 1                  # 0: FFmpeg's choice (frame threads cost CPU)
    fast_sampling: bool = True               # sampling: skip deblocking of non-key frames
    backend: str = "auto"                    # auto: cv2 for every frame, PyAV when sampling
    ffmpeg_options: Mapping[str, str] | None = None   # None: DEFAULT_FFMPEG_OPTIONS by scheme
    transport: str | None = None             # rtsp(s): "tcp" or "udp" (None: tcp)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (got {self.backend!r})")
        if self.target_fps is not None and self.target_fps <= 0:
            raise ValueError(f"target_fps must be > 0 (got {self.target_fps})")
        if self.transport is not None and self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)} "
                             f"(got {self.transport!r})")


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username[:password]@`` (percent-encoded) before its host; unchanged when
    ``username`` is None. Credentials already in the URL are replaced."""
    scheme, sep, rest = url.partition("://")
    if not sep or not username:
        return url
    host, slash, path = rest.partition("/")
    userinfo = urllib.parse.quote(username, safe="")
    if password is not None:
        userinfo += ":" + urllib.parse.quote(password, safe="")
    return f"{scheme}://{userinfo}@{host.rsplit('@', 1)[-1]}{slash}{path}"


def _split(url: str) -> tuple[str, str]:
    """(scheme, location); a plain path or ``file://`` URL is ('file', path)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "file", url
    if scheme.lower() == "file":
        return "file", rest if rest.startswith("/") else "/" + rest.split("/", 1)[-1]
    return scheme.lower(), url


def is_file_url(url: str) -> bool:
    """A ``file://`` URL or a plain path (a file plays to its end; a stream is live)."""
    return _split(url)[0] == "file"


class URLFrameSource:
    """One camera's URL source: a ``FrameSource`` (see ``kvs_pool.sources.base``)."""

    def __init__(self, url: str, options: URLSourceOptions | None = None,
                 control: SourceControl | None = None, camera_id: str | None = None,
                 rng: random.Random | None = None) -> None:
        self.url, self.options = url, options or URLSourceOptions()
        self.control = control or SourceControl()
        self.scheme, self.location = _split(url)
        self.is_file = self.scheme == "file"
        self.camera_id = camera_id or Path(redact(url)).name or redact(url)
        self.stats = SourceStats()
        self.backoff = Backoff(self.options.backoff, rng or random.Random())
        self.timeline = Timeline(live=not self.is_file)
        self.paced = self.options.realtime if self.is_file else self.options.pace
        self._pacer = Pacer(self.control, PACE_CATCH_UP)
        self.fps: float | None = None
        self._attempts = 0
        self._looped = False
        self._connected_at: float | None = None
        self._running: list[_Frames] = []
        self._single: Iterator[tuple[np.ndarray, float]] | None = None

    def __enter__(self) -> URLFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End any running ``read_frames`` (closing its connection)."""
        for gen in self._running:
            gen.close()
        self._running.clear()
        self._single = None
        self.stats.state = SourceState.DISCONNECTED

    def read_frame(self) -> tuple[np.ndarray, float] | None:
        """The next frame in a fresh array, or None once the source ended or was stopped."""
        if self._single is None:
            self._single = self.read_frames()
        return next(self._single, None)

    def is_healthy(self) -> bool:
        """Connected, and a frame was delivered within the stall timeout."""
        last = self.stats.last_frame_mono
        return (self.stats.state == SourceState.CONNECTED and last is not None
                and self.control.clock() - last < self.frame_timeout())

    def frame_timeout(self) -> float:
        """Seconds without a delivered frame before reconnecting (scales with 1/fps, target)."""
        return frame_timeout(self.fps, self.options.target_fps, self.options.frame_timeout_s)

    def read_frames(self, into: BufferFactory | None = None) -> Iterator[tuple[np.ndarray, float]]:
        """Yield ``(bgr, capture_ts)``; ``bgr`` is the buffer ``into`` lent, when it could be."""
        gen = self._frames(into or allocate)
        self._running = [g for g in self._running
                         if inspect.getgeneratorstate(g) != inspect.GEN_CLOSED]
        self._running.append(gen)
        return gen

    def _frames(self, into: BufferFactory) -> _Frames:
        try:
            while not self.control.stopped():
                reader = self._connect()
                if reader is None:
                    return
                try:
                    outcome = yield from self._pump(reader, into)
                except FrameSourceError as exc:   # a read or decode failure: reconnect
                    self._failed(str(exc))
                    outcome = _LOST
                finally:
                    reader.close()
                if outcome in (_STOP, _END):
                    return
                self._looped = outcome == _LOOP
                if not self._looped:
                    self._pacer.reset()   # a new connection: a new timeline
                if outcome == _LOST and not self._wait_before_reconnect():
                    return
        finally:
            if self.stats.state != SourceState.ERROR:
                self.stats.state = SourceState.DISCONNECTED

    def _connect(self) -> Cv2Reader | AvReader | None:
        """Open a reader, retrying with backoff; None if stopped meanwhile."""
        while not self.control.stopped():
            if self._attempts and not self._looped:
                self.stats.reconnects += 1
                self.stats.state = SourceState.RECONNECTING
            elif not self._attempts:
                self.stats.state = SourceState.CONNECTING
            self._attempts += 1
            self._looped = False
            try:
                reader = self._open_reader()
            except FrameSourceError as exc:
                self._failed(str(exc))
                self.stats.state = SourceState.RECONNECTING
                if not self.control.wait(self.backoff.next_delay()):
                    return None
                continue
            self._connected(reader)
            return reader
        return None

    def _open_reader(self) -> Cv2Reader | AvReader:
        if self.is_file and not Path(self.location).is_file():
            self.stats.state = SourceState.ERROR
            raise FrameSourceError(f"{self.camera_id}: no such video file: {self.location}")
        settings = self._reader_settings()
        use_av = self.options.backend == "av" or (
            self.options.backend == "auto" and self.options.target_fps is not None)
        if use_av:
            return AvReader(settings, self._decode_error)
        return Cv2Reader(settings)

    def _reader_settings(self) -> ReaderSettings:
        o = self.options
        open_s, read_s = DEFAULT_TIMEOUTS.get(self.scheme, (None, None))
        ffmpeg = dict(o.ffmpeg_options if o.ffmpeg_options is not None else
                      DEFAULT_FFMPEG_OPTIONS.get(self.scheme, {}))
        if o.transport and self.scheme in ("rtsp", "rtsps"):
            ffmpeg["rtsp_transport"] = o.transport
        return ReaderSettings(
            url=self.location, target_fps=o.target_fps,
            open_timeout_s=o.open_timeout_s if o.open_timeout_s is not None else open_s,
            read_timeout_s=o.read_timeout_s if o.read_timeout_s is not None else read_s,
            threads=o.decode_threads, fast_sampling=o.fast_sampling, ffmpeg_options=ffmpeg)

    def _connected(self, reader: Cv2Reader | AvReader) -> None:
        self.fps = reader.fps
        self.stats.state = SourceState.CONNECTED
        self._connected_at = self.control.clock()
        self.timeline.restart(reader.fps)
        log.info("%s: connected to %s (%s, %s fps)", self.camera_id, redact(self.url),
                 type(reader).__name__, f"{reader.fps:g}" if reader.fps else "unknown")

    def _failed(self, message: str) -> None:
        """Count an error; give up (``FrameSourceError``) after too many in a row."""
        self.stats.failed(message)
        limit = self.options.max_consecutive_errors
        log.warning("%s: %s (%d in a row)", self.camera_id, message, self.stats.consecutive_errors)
        if self.stats.state == SourceState.ERROR or (
                limit and self.stats.consecutive_errors >= limit):
            self.stats.state = SourceState.ERROR
            raise FrameSourceError(f"{self.camera_id}: giving up on {redact(self.url)} after "
                                   f"{self.stats.consecutive_errors} errors in a row: {message}")

    def _decode_error(self, message: str) -> None:
        self.stats.read_errors += 1
        self.stats.last_error = message

    def _wait_before_reconnect(self) -> bool:
        """After losing a connection: at once if it was stable, else the backoff delay."""
        self.stats.state = SourceState.RECONNECTING
        stable = self.options.backoff.reset_after_s
        if self._connected_at is not None and self.control.clock() - self._connected_at >= stable:
            self.backoff.reset()
            return not self.control.stopped()
        return self.control.wait(self.backoff.next_delay())

    def _pump(self, reader: Cv2Reader | AvReader, into: BufferFactory
              ) -> Generator[tuple[np.ndarray, float], None, str]:
        """Frames of one connection; returns how it ended (_STOP, _END, _LOOP or _LOST)."""
        clock, control = self.control.clock, self.control
        last_frame = last_progress = clock()
        limit = self.frame_timeout()
        for fill, t in reader.decoded():
            now = clock()
            if fill is None:
                self.stats.skipped += 1
            else:
                ts = self.timeline.stamp(t)
                if not self._wait_due(t):
                    return _STOP
                array = fill(into)   # the slot is taken only now that the frame is due
                last_frame = clock()
                self.stats.delivered(ts, last_frame)
                yield array, ts
            if control.stopped():
                return _STOP
            if now - last_progress >= control.progress_interval_s:
                control.progress()
                last_progress = now
            if now - last_frame > limit:
                self._failed(f"no frame delivered for {now - last_frame:.1f} s (stalled)")
                return _LOST
        return self._ended()

    def _wait_due(self, t: float) -> bool:
        """Paced: sleep until the decoded frame at pts ``t`` is due; False if stopped meanwhile.
        Files are paced on their playback position, which counts on across loops."""
        if not self.paced:
            return True
        stream_t = self.timeline.position if self.is_file else t
        return self._pacer.wait_for(stream_t, PACE_HORIZON_S)

    def _ended(self) -> str:
        if self.control.stopped():
            return _STOP
        if self.is_file:
            log.info("%s: end of %s%s", self.camera_id, self.location,
                     ", looping" if self.options.loop else "")
            return _LOOP if self.options.loop else _END
        self._failed(f"{redact(self.url)}: stream ended, read failed or timed out")
        return _LOST
