"""What every frame source shares: the ``FrameSource`` protocol, its live ``SourceStats``, the
connection states, and the waiting/stall rules both sources (URL, KVS HLS) follow.

A source decodes frames into a buffer its caller lends it::

    with URLFrameSource("rtsp://cam/stream", options) as source:
        for array, capture_ts in source.read_frames(into=writer.loan):
            ...   # array is the loaned buffer when the decoder could fill it; else copy it

``into(height, width, channels)`` returns a writable C-contiguous ``uint8`` array of that shape;
it is called once per *kept* frame, just before decoding into it, so a frame thrown away by
``target_fps`` never takes a slot. ``capture_ts`` is Unix seconds.

Sources reconnect by themselves with ``kvs_pool.backoff.Backoff``; while they wait they sleep in
steps of at most ``SourceControl.progress_interval_s`` and call ``on_progress()`` after each, so
the decoder worker keeps heart-beating, and they return promptly once ``stop`` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Protocol, runtime_checkable

import numpy as np

from kvs_pool.stall import frame_timeout

__all__ = [
    "SourceState", "SourceStats", "FrameSource", "BufferFactory", "ProgressHook",
    "SourceControl", "frame_timeout", "allocate",
]

BufferFactory = Callable[[int, int, int], np.ndarray]
"""``into(height, width, channels)`` -> writable (h, w, c) uint8 buffer for the next kept frame."""
ProgressHook = Callable[[], None]
"""Called while the source waits or works (at least every ``progress_interval_s``)."""


class SourceState(IntEnum):
    """Connection state; same numbers as ``kvs_pool.ring.ConnectionState`` (the ring header gauge
    ``kvs_hls_connection_state``). Sources do not import ``ring``, so the values are repeated
    here; ``tests/sources`` checks they agree."""

    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    RECONNECTING = 3
    ERROR = 4


@dataclass
class SourceStats:
    """Cumulative counters and the current state of one source, updated live as it runs.

    The decoder worker mirrors the counters into the ring header as deltas, so they only grow.
    ``skipped`` counts frames decoded or passed over but not delivered (``target_fps``).
    Clocks: ``last_frame_mono`` is ``time.monotonic()``; ``last_frame_wall`` is the Unix capture
    time of the last delivered frame.
    """

    frames: int = 0
    reconnects: int = 0
    url_refreshes: int = 0
    read_errors: int = 0
    skipped: int = 0
    state: int = SourceState.DISCONNECTED
    last_error: str | None = None
    last_frame_wall: float | None = None
    last_frame_mono: float | None = None
    consecutive_errors: int = 0

    def delivered(self, capture_ts: float, now_mono: float) -> None:
        """Count one frame handed to the caller; a frame ends a run of errors."""
        self.frames += 1
        self.last_frame_wall = capture_ts
        self.last_frame_mono = now_mono
        self.consecutive_errors = 0

    def failed(self, message: str) -> None:
        """Count one read/connect error and remember its message."""
        self.read_errors += 1
        self.consecutive_errors += 1
        self.last_error = message

    def as_dict(self) -> dict[str, object]:
        """A JSON-able snapshot (state as its number)."""
        doc = asdict(self)
        doc["state"] = int(self.state)
        return doc


@runtime_checkable
class FrameSource(Protocol):
    """A video source that decodes BGR frames into caller-lent buffers (``docs/contracts.md``)."""

    camera_id: str
    stats: SourceStats

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...

    def read_frames(self, into: BufferFactory | None = None
                    ) -> Iterator[tuple[np.ndarray, float]]:
        """Yield ``(bgr_array, capture_ts_unix)`` until stopped, the end of a non-looping file, or
        giving up (``FrameSourceError`` after too many consecutive failures)."""
        ...

    def read_frame(self) -> tuple[np.ndarray, float] | None:
        """The next frame in a fresh array, or None when the source has ended or was stopped."""
        ...

    def is_healthy(self) -> bool:
        """Connected and a frame arrived within the stall timeout."""
        ...


def allocate(height: int, width: int, channels: int) -> np.ndarray:
    """The default ``into``: a fresh array per frame (what ``read_frame`` uses)."""
    return np.empty((height, width, channels), np.uint8)


@dataclass
class SourceControl:
    """How a source is told to stop, reports progress, and tells time (injectable for tests)."""

    stop: threading.Event = field(default_factory=threading.Event)
    on_progress: ProgressHook | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    progress_interval_s: float = 1.0

    def stopped(self) -> bool:
        return self.stop.is_set()

    def progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress()

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` in steps, reporting progress after each; False if stopped meanwhile."""
        deadline = self.clock() + max(seconds, 0.0)
        while not self.stopped():
            left = deadline - self.clock()
            if left <= 0:
                return True
            step = min(left, self.progress_interval_s)
            if self.sleep is time.sleep:
                self.stop.wait(step)   # wakes at once on stop
            else:
                self.sleep(step)
            self.progress()
        return False
