"""The two decoders behind ``URLFrameSource``: one open connection each, frames into lent buffers.

``Cv2Reader``  OpenCV's FFmpeg backend, ``grab()`` + ``retrieve(buf)`` into the lent buffer; used
               when every frame is kept (no ``target_fps``, or a target at/above the stream's
               rate). Single-threaded decode by default: frame threads cost CPU, and one core
               decodes a 1080p stream many times faster than real time (figures and the
               command that measures them: docs/sources.md).
``AvReader``   PyAV, used when sampling: it sees packets before they are decoded, so it can keep
               undecoded what no kept frame needs (see ``kvs_pool.sources.sampling``), and
               colour-converts only kept frames, straight into the lent buffer (I420 -> BGR by
               ``cv2.cvtColor(dst=buf)``, the same BT.601 conversion OpenCV's ``read()`` does).

Both readers' ``decoded()`` yield ``(fill, stream_time_s)`` per kept frame and
``(None, stream_time_s)`` per frame or packet passed over, so the source can count, heartbeat
and detect stalls uniformly. A kept frame is decoded but not yet in any buffer: ``fill(into)``
writes it into ``into(h, w, 3)`` and returns that array, and must be called before the generator
is advanced (it reads the reader's current frame). So a source can wait until the frame is due
(``kvs_pool.sources.pacing``) and only then take a ring slot, with no extra copy: cv2 holds the
frame ``grab()`` decoded inside FFmpeg until ``retrieve(buf)``; PyAV holds the decoded YUV
``VideoFrame`` until it is colour-converted into the buffer. They return at the end of the
stream *or* on a read failure (FFmpeg cannot tell them apart) and raise ``FrameSourceError``
when the stream cannot be opened or decoded.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import cv2
import numpy as np
from av.video.stream import VideoStream

from kvs_pool.errors import FrameSourceError
from kvs_pool.sources.base import BufferFactory
from kvs_pool.sources.sampling import (
    PLAN_ALL,
    PLAN_KEYFRAMES,
    PacketRouter,
    Sampler,
    choose_plan,
    is_disposable,
)

__all__ = ["ReaderSettings", "Cv2Reader", "AvReader", "Decoded", "Fill", "redact"]

log = logging.getLogger(__name__)

Fill = Callable[[BufferFactory], np.ndarray]
"""``fill(into)``: put the decoded frame into ``into(h, w, 3)`` (or an array of its own if the
stream changed size) and return it; valid until the reader's generator is advanced."""
Decoded = tuple[Fill | None, float]
MAX_DECODE_ERRORS = 25   # consecutive undecodable packets before the connection counts as broken
_I420 = ("yuv420p",)
PROBE_TIMEOUT_S = 2.0    # the longest _why_not_open waits for PyAV's reason


@dataclass(frozen=True)
class ReaderSettings:
    """What a reader needs to open one connection (timeouts None: FFmpeg's defaults, files)."""

    url: str
    target_fps: float | None = None
    open_timeout_s: float | None = None
    read_timeout_s: float | None = None
    threads: int = 1
    fast_sampling: bool = True
    ffmpeg_options: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _capture_options(options: dict[str, str]) -> Iterator[None]:
    """OpenCV takes FFmpeg options only from a process-wide variable, read at open: set it for
    this open alone (a user's own setting wins)."""
    key = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
    if not options or key in os.environ:
        yield
        return
    os.environ[key] = "|".join(f"{k};{v}" for k, v in options.items())
    try:
        yield
    finally:
        os.environ.pop(key, None)


def redact(url: str) -> str:
    """The URL without credentials or query string (for logs and error messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1]
    return f"{scheme}://{host}{slash}{path.split('?', 1)[0]}"


def _reason(exc: BaseException) -> str:
    """An FFmpeg/OS error without the URL PyAV appends to it (which may hold credentials)."""
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


def _why_not_open(settings: ReaderSettings) -> str:
    """Why OpenCV could not open a network URL: OpenCV only says "no", so ask PyAV once (it
    reports e.g. "Server returned 401 Unauthorized"); files get the generic reason. The probe
    waits at most ``PROBE_TIMEOUT_S`` (an answer like a 401 comes at once; a silent server must
    not double the time an open blocks the decoder's heartbeat)."""
    generic = "unreachable, refused, timed out or not a video"
    if "://" not in settings.url or settings.url.startswith("file:"):
        return generic
    try:
        av.open(settings.url, timeout=min(settings.open_timeout_s or PROBE_TIMEOUT_S,
                                          PROBE_TIMEOUT_S),
                options=dict(settings.ffmpeg_options)).close()
    except (av.FFmpegError, OSError) as exc:
        return _reason(exc)
    return generic


class Cv2Reader:
    """One ``cv2.VideoCapture`` (FFmpeg backend) with bounded open/read timeouts."""

    def __init__(self, settings: ReaderSettings) -> None:
        self.settings = settings
        with _capture_options(settings.ffmpeg_options):
            self.cap = cv2.VideoCapture(settings.url, cv2.CAP_FFMPEG, self._params())
        if not self.cap.isOpened():
            self.cap.release()
            raise FrameSourceError(f"cannot open {redact(settings.url)} with OpenCV/FFmpeg "
                                   f"({_why_not_open(settings)})")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None
        self.shape = (int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                      int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)))

    def _params(self) -> list[int]:
        s = self.settings
        params = [cv2.CAP_PROP_N_THREADS, max(int(s.threads), 0)]
        if s.open_timeout_s:
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(s.open_timeout_s * 1000)]
        if s.read_timeout_s:
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(s.read_timeout_s * 1000)]
        return params

    def decoded(self) -> Iterator[Decoded]:
        """``grab()`` decodes; the kept frame stays in FFmpeg until ``fill`` retrieves it."""
        sampler = Sampler(self.settings.target_fps, self.fps)
        while self.cap.grab():
            t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield (self._retrieve if sampler.take(t) else None), t

    def _retrieve(self, into: BufferFactory) -> np.ndarray:
        if not all(self.shape):   # size unknown before the first frame: let OpenCV allocate
            ok, out = self.cap.retrieve()
            if ok and out is not None:
                self.shape = out.shape[:2]
                return out
        buf = into(self.shape[0], self.shape[1], 3)
        ok, out = self.cap.retrieve(buf)
        if not ok or out is None:
            raise FrameSourceError(f"{redact(self.settings.url)}: frame could not be decoded")
        if out is not buf:   # the stream changed size: OpenCV allocated; next loan is right
            self.shape = out.shape[:2]
        return out

    def close(self) -> None:
        self.cap.release()


class AvReader:
    """One PyAV container; decodes only what kept frames need (``sampling`` plans)."""

    def __init__(self, settings: ReaderSettings, on_error: Callable[[str], None]) -> None:
        self.settings, self.on_error = settings, on_error
        self.container = self._open()
        try:
            self.stream = self.container.streams.video[0]
        except IndexError:
            self.container.close()
            raise FrameSourceError(f"{redact(settings.url)} has no video stream") from None
        self.fps = float(self.stream.average_rate or self.stream.guessed_rate or 0) or None
        self._configure_decoder()
        extradata = self.stream.codec_context.extradata or b""
        self.length_prefixed = extradata[:1] == b"\x01"   # avcC/hvcC: MP4; else Annex B
        self.codec = self.stream.codec_context.name
        self.router = PacketRouter(settings.target_fps, self.fps, self._disposable)
        self.sampler = self.router.sampler
        self._kept: set[int] = set()
        self._errors = 0
        self._last_t = 0.0
        self._pending: list[float] = []   # stream times sent to the decoder, not yet out

    def _open(self) -> av.container.InputContainer:
        s = self.settings
        timeout = (s.open_timeout_s, s.read_timeout_s) if s.read_timeout_s else s.open_timeout_s
        try:
            return av.open(s.url, timeout=timeout, options=dict(s.ffmpeg_options))
        except (av.FFmpegError, OSError) as exc:
            raise FrameSourceError(f"cannot open {redact(s.url)} with PyAV: {_reason(exc)}") \
                from exc

    def _configure_decoder(self) -> None:
        cc = self.stream.codec_context
        if self.settings.threads == 1:
            cc.thread_count = 1
        else:
            cc.thread_count = max(self.settings.threads, 0)
            self.stream.thread_type = "AUTO"
        target = self.settings.target_fps
        if self.settings.fast_sampling and choose_plan(target, self.fps, None) != PLAN_ALL:
            # Deblocking costs ~15-20 % of a decode; sampling skips it. Kept frames lose a little
            # sharpness (PSNR vs full decode: median 41-49 dB, worst 31 dB on the synthetic
            # clip; key frames ~53 dB). ``fast_sampling=False`` keeps frames exact.
            cc.options = {"skip_loop_filter": "all"}

    def decoded(self) -> Iterator[Decoded]:
        """Packets routed per ``sampling``; a kept frame is held in YUV until ``fill``."""
        tb = float(self.stream.time_base or 0)
        for packet in self._packets():
            if packet.size == 0:
                continue
            if packet.pts is None:
                yield from self._decode(packet)
                continue
            for held, t, wanted in self.router.route(packet, float(packet.pts) * tb,
                                                     packet.is_keyframe):
                if not wanted:
                    yield None, t
                    continue
                heapq.heappush(self._pending, t)
                yield from self._decode(held)
            if self.router.plan == PLAN_KEYFRAMES:
                # Key frames alone need no reordering: drain now rather than a GOP or two later.
                yield from self._decode(None)
                self.stream.codec_context.flush_buffers()
        yield from self._decode(None)   # flush frames held for reordering

    def _packets(self) -> Iterator[av.Packet[VideoStream]]:
        """Demuxed packets of the video stream; a network/demux failure is a FrameSourceError."""
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.FFmpegError, OSError) as exc:
                raise FrameSourceError(f"{redact(self.settings.url)}: read failed: "
                                       f"{_reason(exc)}") from exc
            yield packet

    def _disposable(self, packet: av.Packet[VideoStream]) -> bool:
        return is_disposable(bytes(packet), self.codec, self.length_prefixed)

    def _decode(self, packet: av.Packet[VideoStream] | None) -> Iterator[Decoded]:
        try:
            frames = self.stream.decode(packet)
        except av.FFmpegError as exc:
            self._errors += 1
            self.on_error(f"{redact(self.settings.url)}: undecodable packet: {_reason(exc)}")
            if self._errors >= MAX_DECODE_ERRORS:
                raise FrameSourceError(f"{redact(self.settings.url)}: {self._errors} packets "
                                       "in a row could not be decoded") from exc
            return
        self._errors = 0
        for frame in frames:
            t = self._frame_time(frame)
            yield (functools.partial(convert, frame) if self.sampler.take(t) else None), t

    def _frame_time(self, frame: av.VideoFrame) -> float:
        """Stream time of a decoded frame. Frames come out in display order, so one drained
        without a pts (it happens after a plan change) is the earliest packet still pending."""
        t = frame.time
        pending = self._pending
        if t is not None and not math.isnan(t):
            while pending and pending[0] <= t + 1e-6:
                heapq.heappop(pending)
        elif pending:
            t = heapq.heappop(pending)
        else:
            t = self._last_t + (1.0 / self.fps if self.fps else 0.04)
        self._last_t = float(t)
        return self._last_t

    def close(self) -> None:
        self.container.close()


def convert(frame: av.VideoFrame, into: BufferFactory) -> np.ndarray:
    """Colour-convert a decoded frame to BGR straight into ``into(h, w, 3)``."""
    h, w = frame.height, frame.width
    buf = into(h, w, 3)
    if frame.format.name in _I420 and h % 2 == 0 and w % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420, dst=buf)
    np.copyto(buf, frame.to_ndarray(format="bgr24"))
    return buf
