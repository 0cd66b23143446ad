"""Turns a stream's own clock (pts, seconds) into capture timestamps (Unix seconds).

Live streams (RTSP, HLS): neither OpenCV nor PyAV exposes an absolute capture time (HLS
``EXT-X-PROGRAM-DATE-TIME`` is not surfaced), and the wall clock at decode is useless on its own
for HLS, whose frames arrive in bursts of one fragment. So a frame's timestamp is its pts plus
the smallest ``arrival - pts`` seen so far on this connection::

    capture_ts = pts + offset,   offset = min over frames (time.time() at decode - pts)

Frames keep the stream's spacing, a timestamp is never in the future, and it is the arrival
time of the least delayed frame (an upper bound of the true capture time). A pts jump (stream
restart, discontinuity) that would put a frame in the future or more than ``MAX_LAG_S`` in the
past re-anchors at the wall clock. Each new connection re-anchors.

Files: ``start wall time + playback position``; a looping file keeps counting across loops, so
timestamps never go back. ``position`` is also the stream time a real-time file is paced on
(``kvs_pool.sources.pacing.Pacer``, as live streams are paced on their pts).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Timeline", "MAX_LAG_S"]

MAX_LAG_S = 30.0


class Timeline:
    """Capture timestamps of one source (across its reconnects and loops)."""

    def __init__(self, live: bool, wall: Callable[[], float] = time.time) -> None:
        self.live, self.wall = live, wall
        self.offset: float | None = None        # live: capture_ts - pts
        self.start_wall: float | None = None    # files: wall time at playback 0
        self.loop_offset = 0.0                  # files: playback position of this loop's start
        self.t0: float | None = None            # files: first pts of this loop
        self.position = 0.0                     # files: playback position of the last frame
        self.interval = 0.04

    def restart(self, fps: float | None) -> None:
        """A new connection (live) or the next loop of a file: keep timestamps moving forward."""
        self.offset = None
        if fps:
            self.interval = 1.0 / fps
        if self.t0 is not None:
            self.loop_offset = self.position + self.interval
        self.t0 = None

    def stamp(self, t: float) -> float:
        """Capture timestamp (Unix s) of the frame at stream time ``t``."""
        if self.live:
            return self._stamp_live(t)
        if self.start_wall is None:
            self.start_wall = self.wall()
        if self.t0 is None:
            self.t0 = t
        self.position = self.loop_offset + max(t - self.t0, 0.0)
        return self.start_wall + self.position

    def _stamp_live(self, t: float) -> float:
        now = self.wall()
        if self.offset is None:
            self.offset = now - t
        ts = t + self.offset
        if ts > now or ts < now - MAX_LAG_S:
            self.offset = now - t
            ts = now
        return ts
