"""The decoder worker: one camera's source -> that camera's ring, until told to stop.

Loop: ``for array, ts in source.read_frames(into=self.loan)`` -> the source decodes straight
into the loaned ring slot where it can; if it hands back another array the pump copies it into a
slot (one copy), and a frame larger than the ring's capacity is downscaled into the slot with a
warning (counted; logged at the first and every 1000th). After each frame, and
on the source's ``on_progress`` hook while it waits, the pump heartbeats the ring and mirrors the
source's counters and connection state into the ring header (metrics need no other IPC).

The source reconnects by itself with backoff; the worker exits (see ``kvs_pool.workers`` for the
codes) when the source gives up (4), when its settings are unusable (3), on SIGTERM (0) or when
the supervisor has died (5: ``getppid()`` changed; PR_SET_PDEATHSIG is the first line).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass

import numpy as np

from kvs_pool.config import CameraConfig
from kvs_pool.errors import ConfigError, FrameSourceError, RingError, SourcePermanentError
from kvs_pool.ring import ConnectionState, RingWriter
from kvs_pool.sources.base import FrameSource, ProgressHook, SourceControl, SourceStats
from kvs_pool.workers import EXIT_CONFIG, EXIT_GAVE_UP, EXIT_OK, EXIT_ORPHANED
from kvs_pool.workers.params import camera_url, kvs_source_options, url_source_options

__all__ = ["DecoderArgs", "run_decoder", "open_source"]

log = logging.getLogger(__name__)

_COUNTERS = ("frames", "reconnects", "url_refreshes", "read_errors", "skipped")


@dataclass(frozen=True)
class DecoderArgs:
    """The decoder's payload: which ring to write, and the camera's full settings (its source
    carries the pool's ``aws`` defaults after ``load_config``)."""

    pool: str
    camera: CameraConfig


def open_source(args: DecoderArgs, stop: threading.Event,
                on_progress: ProgressHook) -> FrameSource:
    """The camera's ``FrameSource`` (URL or KVS), its settings from ``workers.params``."""
    camera = args.camera
    control = SourceControl(stop=stop, on_progress=on_progress)
    if camera.source.kind == "kvs":
        from kvs_pool.sources.kvs_hls import KVSHLSFrameSource
        return KVSHLSFrameSource(camera.id, options=kvs_source_options(camera), control=control)
    from kvs_pool.sources.url import URLFrameSource
    url = camera_url(camera)
    return URLFrameSource(url, url_source_options(camera, url), control, camera_id=camera.id)


class _StatsMirror:
    """Copies a source's cumulative ``stats`` into the ring header as deltas + state."""

    def __init__(self, writer: RingWriter) -> None:
        self.writer = writer
        self._last = dict.fromkeys(_COUNTERS, 0)
        self._state: int | None = None

    def sync(self, stats: SourceStats, with_state: bool = True) -> None:
        deltas = {}
        for name in _COUNTERS:
            value = int(getattr(stats, name, 0) or 0)
            if value > self._last[name]:
                deltas[name] = value - self._last[name]
            self._last[name] = value
        if deltas:
            self.writer.add(**deltas)
        if not with_state:
            return
        state = int(getattr(stats, "state", ConnectionState.CONNECTED))
        if state != self._state:
            self.writer.set_state(state)
            self._state = state


class _Pump:
    """Moves frames from a source into the ring; knows when to stop."""

    def __init__(self, writer: RingWriter, stop: threading.Event, parent_pid: int) -> None:
        self.writer, self.stop, self.parent_pid = writer, stop, parent_pid
        self.mirror = _StatsMirror(writer)
        self.source: FrameSource | None = None
        self.orphaned = False
        self.failed = False          # the source gave up: leave ERROR in the ring header
        self.downscaled = 0
        self._slot: np.ndarray | None = None

    def on_progress(self) -> None:
        """The source is alive (maybe waiting): heartbeat, mirror stats, check the parent."""
        self._check_parent()
        self.writer.heartbeat()
        if self.source is not None:
            self.mirror.sync(self.source.stats)

    def _check_parent(self) -> None:
        if os.getppid() != self.parent_pid and not self.orphaned:
            log.error("supervisor %d died: stopping", self.parent_pid)
            self.orphaned = True
            self.stop.set()

    def loan(self, height: int, width: int, channels: int = 3) -> np.ndarray:
        """The ``into`` callback: a ring slot if the frame fits, else a scratch buffer."""
        if self.writer.fits(height, width, channels):
            self._slot = self.writer.loan(height, width, channels)
        else:
            self._slot = np.empty((height, width, channels), np.uint8)
        return self._slot

    def run(self, source: FrameSource) -> int:
        self.source = source
        self.mirror.sync(source.stats)
        for array, capture_ts in source.read_frames(into=self.loan):
            self.put(array, capture_ts)
            self.mirror.sync(source.stats)
            self._check_parent()
            if self.stop.is_set():
                break
        return EXIT_ORPHANED if self.orphaned else EXIT_OK

    def put(self, array: np.ndarray, capture_ts: float) -> None:
        """Commit one frame, copying or downscaling it into a slot if needed."""
        if array is not self._slot or not self.writer.fits(*array.shape):
            self._copy_in(array)
        self._slot = None
        self.writer.commit(capture_ts)

    def _copy_in(self, array: np.ndarray) -> None:
        if array.ndim == 2:
            array = array[:, :, None]
        h, w, c = array.shape
        if self.writer.fits(h, w, c):
            np.copyto(self.writer.loan(h, w, c), array)
            return
        import cv2  # only on the rare oversize path
        scale = min(self.writer.max_width / w, self.writer.max_height / h, 1.0)
        scale = min(scale, math.sqrt(self.writer.max_width * self.writer.max_height / (w * h)))
        nw, nh = max(int(w * scale), 1), max(int(h * scale), 1)
        slot = self.writer.loan(nh, nw, c)
        cv2.resize(array, (nw, nh), dst=slot, interpolation=cv2.INTER_AREA)
        self.downscaled += 1
        if self.downscaled == 1 or self.downscaled % 1000 == 0:
            log.warning("frame %dx%d exceeds the ring's %dx%d: downscaled to %dx%d (%d so far); "
                        "raise max_resolution to keep full size", w, h, self.writer.max_width,
                        self.writer.max_height, nw, nh, self.downscaled)


def run_decoder(args: DecoderArgs, stop: threading.Event) -> int:
    """Entry point ``kvs_pool.workers.decoder:run_decoder``; returns the exit code."""
    parent = os.getppid()
    try:
        writer = RingWriter.attach(args.pool, args.camera.id)
    except RingError as exc:
        log.error("cannot write the camera's ring: %s", exc)
        return EXIT_CONFIG
    pump = _Pump(writer, stop, parent)
    try:
        writer.set_state(ConnectionState.CONNECTING)
        with open_source(args, stop, pump.on_progress) as source:
            return pump.run(source)
    except (ConfigError, ValueError, TypeError) as exc:
        log.error("unusable source settings: %s", exc)
        return EXIT_CONFIG
    except SourcePermanentError as exc:   # e.g. KVS NotAuthorized: restart after max_s
        pump.failed = True
        log.error("source failed permanently: %s", exc)
        return EXIT_CONFIG
    except FrameSourceError as exc:       # e.g. too many transient errors: normal backoff
        pump.failed = True
        log.error("source gave up: %s", exc)
        return EXIT_GAVE_UP
    except RingError as exc:  # the pool closed the ring: it is stopping
        log.info("ring closed: %s", exc)
        return EXIT_OK
    finally:
        _detach(writer, pump)


def _detach(writer: RingWriter, pump: _Pump) -> None:
    """Mirror the source's last counters, leave ERROR (gave up) or DISCONNECTED, detach."""
    try:
        if pump.source is not None:
            pump.mirror.sync(pump.source.stats, with_state=False)
        writer.set_state(ConnectionState.ERROR if pump.failed else ConnectionState.DISCONNECTED)
    except RingError:
        pass
    writer.close()
