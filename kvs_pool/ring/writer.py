"""The ring's single writer (a decoder): loan a slot, fill it, commit it; never wait for readers.

Publishing frame n (per-slot seqlock, slot = n % K)::

    loan():   slot.seq = 2n-1                       # readers now skip this slot
              (decoder writes pixels into the loaned view: the one copy of the pixels)
    commit(): slot meta (timestamps, geometry)
              slot.seq = 2n                         # the slot is readable again
              header: geometry/generation, write_seq = n, clocks, fps
              header.futex += 1; FUTEX_WAKE(all)    # wake waiting readers

On x86-64 stores are not reordered with other stores and each numpy scalar store is one aligned
8-byte move inside an opaque C call, so readers observe this order (``tests/ring`` hunts for torn
reads with real processes; arm64 would need release/acquire barriers, not provided here).

A writer restarting on an existing ring continues from the header's ``write_seq``: sequence
numbers never go backwards for readers, and a slot left at 2n-1 by a killed writer is simply
loaned again for the same n.
"""

from __future__ import annotations

import logging
import os
import time

from kvs_pool.errors import RingError
from kvs_pool.ring.futex import futex_wake
from kvs_pool.ring.header import RingStatus, attach_mapping, closed_reason, pid_alive, read_status
from kvs_pool.ring.layout import COUNTER_WORDS, ConnectionState, HeaderWord, SlotWord, segment_name
from kvs_pool.ring.segment import Image, Mapping

__all__ = ["RingWriter"]

log = logging.getLogger(__name__)

_FPS_ALPHA = 0.1  # EWMA weight of the newest inter-commit interval
_RECHECK_S = 1.0  # how often loan/commit/heartbeat check the ring still has its name


class RingWriter:
    """Write frames into one camera's ring (one writer per ring)."""

    def __init__(self, mapping: Mapping, pool: str, camera_id: str) -> None:  # use .attach
        self._m: Mapping | None = mapping
        self.pool, self.camera_id, self.name = pool, camera_id, mapping.name
        u = mapping.hdr
        self._slots = mapping.slots
        self._k = len(self._slots)
        self._capacity = int(u[HeaderWord.SLOT_SIZE]) - int(u[HeaderWord.PIXEL_OFFSET])
        self.max_width, self.max_height = int(u[HeaderWord.MAX_WIDTH]), int(u[HeaderWord.MAX_HEIGHT])
        self.max_channels = int(u[HeaderWord.MAX_CHANNELS])
        self._seq = int(u[HeaderWord.WRITE_SEQ])
        self._generation = int(u[HeaderWord.GENERATION])
        self._geometry = (int(u[HeaderWord.HEIGHT]), int(u[HeaderWord.WIDTH]), int(u[HeaderWord.CHANNELS]))
        self._loaned: tuple[int, tuple[int, int, int]] | None = None
        self._last_commit = 0.0
        self._interval = 0.0
        self._recheck_at = time.monotonic() + _RECHECK_S

    @classmethod
    def attach(cls, pool: str, camera_id: str) -> RingWriter:
        """Attach as the ring's writer (untracked); refuses if another live writer holds it."""
        name = segment_name(pool, camera_id)
        what = f"camera {camera_id!r} of pool {pool!r}"
        m = attach_mapping(name, what, readonly=False)
        current = int(m.hdr[HeaderWord.PRODUCER_PID])
        if current not in (0, os.getpid()) and pid_alive(current):
            m.close()
            raise RingError(f"{what}: ring {name} already has a live writer (pid {current})")
        m.hdr[HeaderWord.PRODUCER_PID] = os.getpid()
        m.hdr[HeaderWord.WRITER_STARTS] = int(m.hdr[HeaderWord.WRITER_STARTS]) + 1
        m.hdr_f[HeaderWord.HEARTBEAT_MONO] = time.monotonic()
        m.hdr_f[HeaderWord.FPS] = 0.0  # the rate was the previous writer's; this one has none yet
        log.info("writer attached to ring %s at seq %d", name, int(m.hdr[HeaderWord.WRITE_SEQ]))
        return cls(m, pool, camera_id)

    @property
    def seq(self) -> int:
        """Sequence number of the last committed frame."""
        return self._seq

    def fits(self, height: int, width: int, channels: int = 3) -> bool:
        """True if a frame of this shape fits a slot (the decoder downscales otherwise)."""
        return channels <= self.max_channels and height * width * channels <= self._capacity

    def loan(self, height: int, width: int, channels: int = 3) -> Image:
        """Mark the next slot as being written and return it as a writable (h, w, c) uint8 array.

        The array is C-contiguous, so ``cv2.VideoCapture.read(array)`` decodes straight into
        it. It stays valid until the next ``loan``; call ``commit`` once it holds the frame.
        """
        self._live()
        shape = (int(height), int(width), int(channels))
        if min(shape) <= 0 or not self.fits(*shape):
            raise RingError(
                f"camera {self.camera_id!r}: frame {shape[1]}x{shape[0]}x{shape[2]} does not fit "
                f"ring {self.name} (capacity {self.max_width}x{self.max_height}x"
                f"{self.max_channels}): downscale it or recreate the ring larger")
        n = self._seq + 1
        meta, _, pixels = self._slots[n % self._k]
        meta[SlotWord.SEQ] = 2 * n - 1
        self._loaned = (n, shape)
        return pixels[: shape[0] * shape[1] * shape[2]].reshape(shape)

    def commit(self, capture_ts: float, decode_ts: float | None = None) -> int:
        """Publish the loaned slot and wake readers; returns the frame's sequence number."""
        m = self._live()
        if self._loaned is None:
            raise RingError(f"ring {self.name}: commit() without a loan()")
        n, shape = self._loaned
        self._loaned = None
        if shape != self._geometry:
            self._generation += 1
            self._geometry = shape
            self._publish_geometry(m, shape)
        meta, meta_f, _ = self._slots[n % self._k]
        meta_f[SlotWord.CAPTURE_TS] = capture_ts
        meta_f[SlotWord.DECODE_TS] = time.time() if decode_ts is None else decode_ts
        meta[SlotWord.HEIGHT], meta[SlotWord.WIDTH], meta[SlotWord.CHANNELS] = shape
        meta[SlotWord.STRIDE] = shape[1] * shape[2]
        meta[SlotWord.GENERATION] = self._generation
        self._stamp_clocks(m, time.monotonic(), capture_ts)  # first: keep publish-to-wake short
        meta_f[SlotWord.COMMIT_MONO] = time.monotonic()  # the publication instant (latency reference)
        meta[SlotWord.SEQ] = 2 * n                      # slot readable
        m.hdr[HeaderWord.WRITE_SEQ] = n                   # frame published
        m.futex[0] = (m.futex[0] + 1) & 0xFFFFFFFF
        futex_wake(m.futex_address)
        self._seq = n
        return n

    def _publish_geometry(self, m: Mapping, shape: tuple[int, int, int]) -> None:
        u = m.hdr
        u[HeaderWord.HEIGHT], u[HeaderWord.WIDTH], u[HeaderWord.CHANNELS] = shape
        u[HeaderWord.STRIDE] = shape[1] * shape[2]
        u[HeaderWord.GENERATION] = self._generation
        log.info("ring %s: geometry %dx%dx%d, generation %d", self.name, shape[1], shape[0],
                 shape[2], self._generation)

    def _stamp_clocks(self, m: Mapping, now: float, capture_ts: float) -> None:
        f = m.hdr_f
        if self._last_commit:
            dt = now - self._last_commit
            self._interval = dt if not self._interval else (
                self._interval + _FPS_ALPHA * (dt - self._interval))
            f[HeaderWord.FPS] = 1.0 / self._interval if self._interval > 0 else 0.0
        self._last_commit = now
        f[HeaderWord.LAST_FRAME_MONO] = now
        f[HeaderWord.HEARTBEAT_MONO] = now
        f[HeaderWord.LAST_FRAME_WALL] = capture_ts

    def heartbeat(self) -> None:
        """Stamp "the decoder made progress" (monotonic) for the supervisor's stall check."""
        self._live().hdr_f[HeaderWord.HEARTBEAT_MONO] = time.monotonic()

    def set_state(self, state: int) -> None:
        """Record the connection state (0 disconnected, 1 connecting, 2 connected, ...)."""
        value = ConnectionState(int(state))  # ValueError names a bad state
        self._live().hdr[HeaderWord.STATE] = int(value)

    def add(self, frames: int = 0, reconnects: int = 0, url_refreshes: int = 0,
            read_errors: int = 0, skipped: int = 0) -> None:
        """Add to the decoder counters in the header (cumulative across decoder restarts)."""
        u = self._live().hdr
        for name, delta in (("frames", frames), ("reconnects", reconnects),
                            ("url_refreshes", url_refreshes), ("read_errors", read_errors),
                            ("skipped", skipped)):
            if delta < 0:
                raise ValueError(f"counter {name} only grows: add({name}={delta}) is invalid")
            if delta:
                word = COUNTER_WORDS[name]
                u[word] += int(delta)

    def status(self) -> RingStatus:
        return read_status(self._live())

    def close(self) -> None:
        """Detach: clear the producer pid; the ring and its frames stay for readers."""
        m, self._m = self._m, None
        if m is None:
            return
        if m.shm is not None and m.hdr[HeaderWord.PRODUCER_PID] == os.getpid():
            m.hdr[HeaderWord.PRODUCER_PID] = 0
        self._slots = []
        m.close()

    def _live(self) -> Mapping:
        m = self._m
        if m is None:
            raise RingError(f"ring {self.name}: writer is closed")
        now = time.monotonic()
        if now >= self._recheck_at:  # an os.stat at most once a second; before any access
            self._recheck_at = now + _RECHECK_S
            self._check_fault(m)
        reason = closed_reason(int(m.hdr[HeaderWord.POOL_STATE]), self.pool)
        if reason:
            raise RingError(f"camera {self.camera_id!r}: {reason} "
                            f"(ring {self.name} closed by its owner)")
        return m

    def _check_fault(self, m: Mapping) -> None:
        truncated = m.truncated()
        if truncated:
            raise RingError(f"camera {self.camera_id!r}: ring {self.name} was {truncated}: "
                            "writing would crash this process (SIGBUS)")
        if m.unlinked():
            raise RingError(f"camera {self.camera_id!r}: ring {self.name} was removed or "
                            "replaced by its owner; this writer is orphaned (restart it)")

    def __enter__(self) -> RingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
