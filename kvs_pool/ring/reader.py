"""Read frames from a camera's ring: the newest or the next one, zero-copy, without spinning.

Reading frame n (slot = n % K; see ``writer.py`` for the write order)::

    n = header.write_seq            # newest published frame
    slot.seq == 2n ?                # else it is being rewritten: pick again
    read meta (timestamps, geometry)
    slot.seq == 2n ?                # meta was not rewritten meanwhile
    -> Frame(view of the pixels, token 2n)

The pixels are *not* copied: ``Frame.array`` is a read-only view into the slot. The writer never
waits, so once the reader is lapped by K-1 frames the slot is reused; ``Frame.is_intact()``
re-checks the token after you used the view (true => what you read was frame n), and
``Frame.copy()`` copies then checks. A held view is safe for about (K-1)/fps seconds.

``next()`` returns the oldest frame not yet returned that is still safely readable (at least
``write_seq - K + 2``, one slot of margin from the one being written); ``Frame.missed`` tells
how many were skipped because the reader fell behind. Waiting is a FUTEX_WAIT on the header's
futex word with a bounded timeout (``_CHECK_S``) so that a reader also notices a stopped pool
(closed flag or unlinked segment) while no frames come. The same check, at most every
``_CHECK_S`` and also before reading, reports a segment truncated under the reader as an error
instead of the SIGBUS its next access would be. A dead or restarting decoder is not an
error: the reader keeps waiting and carries on at the next sequence the new writer commits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from kvs_pool.errors import RingError
from kvs_pool.ring.futex import futex_wait
from kvs_pool.ring.header import RingStatus, attach_mapping, closed_reason, read_status
from kvs_pool.ring.layout import HeaderWord, SlotWord, segment_name
from kvs_pool.ring.segment import Image, Mapping

__all__ = ["Frame", "FrameOverwrittenError", "RingReader"]

log = logging.getLogger(__name__)

_CHECK_S = 0.25   # longest futex sleep before re-checking that the pool still exists
_RETRIES = 8      # attempts to pick a slot before treating the ring as busy
_FOREVER = float("inf")
# Word indexes as module constants: the wake-up path reads them without attribute lookups.
_WRITE_SEQ = HeaderWord.WRITE_SEQ
_SEQ, _HEIGHT, _WIDTH, _CHANNELS = SlotWord.SEQ, SlotWord.HEIGHT, SlotWord.WIDTH, SlotWord.CHANNELS
_CAPTURE_TS, _DECODE_TS = SlotWord.CAPTURE_TS, SlotWord.DECODE_TS
_GENERATION, _COMMIT_MONO = SlotWord.GENERATION, SlotWord.COMMIT_MONO
# Placeholders: a Frame is built before its slot is re-checked and gets its pixels after; a
# slot's view cache starts with a shape that no slot's u64 meta words can hold.
_NO_PIXELS: Image = np.empty((0, 0, 0), np.uint8)
_NO_VIEW: tuple[tuple[int, int, int], Image] = ((-1, -1, -1), _NO_PIXELS)


class FrameOverwrittenError(RingError):
    """The writer reused a frame's slot while it was being copied (the reader was too slow)."""


@dataclass(slots=True, eq=False)
class Frame:
    """One frame: ``array`` is a read-only (h, w, c) uint8 view into the ring slot."""

    array: Image = field(repr=False)
    seq: int
    capture_ts: float
    decode_ts: float
    missed: int
    generation: int
    commit_mono: float
    _meta: memoryview | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.array.shape

    def is_intact(self) -> bool:
        """True if the slot still holds this frame (a copy is always intact)."""
        return self._meta is None or self._meta[SlotWord.SEQ] == 2 * self.seq

    def copy(self) -> Frame:
        """An owned copy of the frame, checked intact after copying."""
        array = self.array.copy()
        if not self.is_intact():
            raise FrameOverwrittenError(
                f"frame {self.seq} was overwritten while being copied: the reader is more than "
                "slots-1 frames behind the decoder")
        return replace(self, array=array, _meta=None)


class RingReader:
    """A consumer's handle on one camera's ring: untracked, never unlinks."""

    def __init__(self, mapping: Mapping, pool: str, camera_id: str) -> None:  # use .attach
        self._m: Mapping | None = mapping
        self.pool, self.camera_id, self.name = pool, camera_id, mapping.name
        self._slots = mapping.slots
        self._k = len(self._slots)
        self._capacity = int(mapping.hdr[HeaderWord.SLOT_SIZE]) - int(mapping.hdr[HeaderWord.PIXEL_OFFSET])
        self._views = [_NO_VIEW] * self._k
        self._last = 0
        self._recheck_at = time.monotonic() + _CHECK_S
        self.missed = 0

    @classmethod
    def attach(cls, pool: str, camera_id: str) -> RingReader:
        """Attach read-only to the ring of ``camera_id`` in ``pool``.

        Raises ``RingNotFoundError`` (no such ring), ``RingLayoutError`` (another layout
        version) or ``RingError`` (the pool has stopped).
        """
        name = segment_name(pool, camera_id)
        m = attach_mapping(name, f"camera {camera_id!r} of pool {pool!r}", readonly=True)
        return cls(m, pool, camera_id)

    @property
    def last_seq(self) -> int:
        """Sequence number of the last frame returned (0: none yet)."""
        return self._last

    def latest(self) -> Frame | None:
        """The newest committed frame (possibly one already returned), or None if none yet."""
        self._check_due()
        m = self._check_open()
        for _ in range(_RETRIES):
            w = m.hdr[HeaderWord.WRITE_SEQ]
            if w == 0:
                return None
            frame = self._read(w)
            if frame is not None:
                return self._account(frame)
        return None

    def next(self, timeout: float | None = None, *, newest: bool = False) -> Frame | None:
        """Wait up to ``timeout`` s (None: forever) for a frame newer than the last returned.

        ``newest=True`` skips to the newest frame (what a consumer that must not build a
        backlog wants); otherwise frames come in order, skipping only those already lost.
        Returns None on timeout.

        This is the wake-up path, run with cold caches after each FUTEX_WAIT: it is kept to a
        few attribute loads and one call per frame on purpose (every Python step there costs
        several µs of wake-up latency when the CPU slept).
        """
        m = self._m
        if m is None:
            raise RingError(f"ring {self.name}: reader is closed")
        self._check_due()
        futex, hdr = m.futex, m.hdr
        deadline = -1.0
        while True:
            word = futex[0]  # read before checking: a commit after this changes it
            if hdr[_WRITE_SEQ] > self._last:
                frame = self._try_next(hdr, newest)
                if frame is not None:
                    return frame
            if deadline < 0:
                deadline = _FOREVER if timeout is None else time.monotonic() + timeout
            if not self._sleep(word, deadline):
                return None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a frame newer than the last returned exists; False on timeout."""
        deadline = _FOREVER if timeout is None else time.monotonic() + timeout
        while True:
            m = self._m
            if m is None:
                raise RingError(f"ring {self.name}: reader is closed")
            word = m.futex[0]
            if m.hdr[_WRITE_SEQ] > self._last:
                return True
            if not self._sleep(word, deadline):
                return False

    def _sleep(self, word: int, deadline: float) -> bool:
        """Check the pool is still there, then FUTEX_WAIT until a commit or ``deadline``.

        Returns False once ``deadline`` has passed. The presence check (an ``os.stat``) runs at
        most every ``_CHECK_S`` but also while frames flow, so a reader fed by an orphaned
        writer on a ring the owner replaced still learns the pool it knew has stopped.
        """
        self._check_due()  # first: a truncated header would SIGBUS _check_open
        m = self._check_open()
        remaining = min(deadline - time.monotonic(), _CHECK_S)
        if remaining <= 0:
            return False
        futex_wait(m.futex_address, word, remaining)
        return True

    def _try_next(self, hdr: memoryview[int], newest: bool) -> Frame | None:
        """The next (or newest) frame after the last returned, if one is readable now."""
        for _ in range(_RETRIES):
            w, last = hdr[_WRITE_SEQ], self._last
            if w <= last:
                return None
            n = w if newest or not last else max(last + 1, w - self._k + 2)
            frame = self._read(n)
            if frame is not None:
                if last and n > last + 1:
                    frame.missed = n - last - 1
                    self.missed += frame.missed
                self._last = n
                return frame
        return None

    def _read(self, n: int) -> Frame | None:
        """Frame n if its slot holds it, committed and consistent; else None."""
        index = n % self._k
        meta, meta_f, _ = self._slots[index]
        token = 2 * n
        if meta[_SEQ] != token:
            return None
        shape = (meta[_HEIGHT], meta[_WIDTH], meta[_CHANNELS])
        frame = Frame(_NO_PIXELS, n, meta_f[_CAPTURE_TS], meta_f[_DECODE_TS], 0,
                      meta[_GENERATION], meta_f[_COMMIT_MONO], meta)
        if meta[_SEQ] != token:
            return None
        cached = self._views[index]
        frame.array = cached[1] if cached[0] == shape else self._view(index, shape)
        return frame

    def _view(self, index: int, shape: tuple[int, int, int]) -> Image:
        """The slot's pixels as an (h, w, c) array, cached per slot while the shape holds."""
        size = shape[0] * shape[1] * shape[2]
        if not 0 < size <= self._capacity:
            raise RingError(f"ring {self.name}: slot {index} claims a {shape} frame larger than "
                            f"its {self._capacity} bytes: corrupt ring")
        view = self._slots[index][2][:size].reshape(shape)
        self._views[index] = (shape, view)
        return view

    def _account(self, frame: Frame) -> Frame:
        if self._last and frame.seq > self._last + 1:
            frame.missed = frame.seq - self._last - 1
            self.missed += frame.missed
        self._last = max(self._last, frame.seq)
        return frame

    def _check_open(self) -> Mapping:
        """The mapping, unless the reader or its pool is closed (then ``RingError``)."""
        m = self._m
        if m is None:
            raise RingError(f"ring {self.name}: reader is closed")
        reason = closed_reason(int(m.hdr[HeaderWord.POOL_STATE]), self.pool)
        if reason:
            raise RingError(f"camera {self.camera_id!r}: {reason} "
                            f"(ring {self.name} closed by its owner)")
        return m

    def _check_present(self, m: Mapping) -> None:
        """Raise if the ring was removed, replaced or truncated (a SIGBUS on the next access)."""
        truncated = m.truncated()
        if truncated:
            raise RingError(f"camera {self.camera_id!r}: ring {self.name} was {truncated}: "
                            "reading it would crash this process (SIGBUS)")
        if m.unlinked():
            raise RingError(f"camera {self.camera_id!r}: the pool {self.pool!r} has stopped "
                        f"(ring {self.name} was removed)")

    def _check_due(self) -> None:
        """The periodic presence and size check, when ``_CHECK_S`` has passed since the last."""
        m = self._m
        if m is None:
            raise RingError(f"ring {self.name}: reader is closed")
        now = time.monotonic()
        if now >= self._recheck_at:
            self._check_present(m)
            self._recheck_at = now + _CHECK_S

    def status(self) -> RingStatus:
        """A snapshot of the ring header (producer pid, clocks, counters, geometry...)."""
        if self._m is None:
            raise RingError(f"ring {self.name}: reader is closed")
        truncated = self._m.truncated()  # an fstat: status is not on the frame path
        if truncated:
            raise RingError(f"camera {self.camera_id!r}: ring {self.name} was {truncated}")
        return read_status(self._m)

    def close(self) -> None:
        """Detach. Frames still referenced keep the mapping alive until process exit."""
        m, self._m = self._m, None
        if m is not None:
            self._slots, self._views = [], []
            m.close()

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RingReader({self.name!r}, last_seq={self._last}, missed={self.missed})"
