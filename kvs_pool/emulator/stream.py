"""One live stream's timeline: fragments published on real time from looping renditions.

A fragment is *published* when its duration has elapsed since the previous one (as a camera
uploading a GOP at a time would make it): its ``published_mono``/``published_wall`` are recorded
so a benchmark can measure fragment → first decoded frame. Publication is computed lazily from
the monotonic clock on every call, so no thread is needed and the schedule never drifts.

The clip loops forever. Each served fragment is restamped (``mp4.restamp``): ``mfhd`` sequence
number = the fragment's ordinal, ``tfdt`` = its start on the stream's media clock, which runs
with wall time (a stall leaves a gap in it, like a producer's timestamps). So decode time only
ever increases, across loops and across a resolution change.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

from kvs_pool.emulator import mp4
from kvs_pool.emulator.media import Clip

__all__ = ["LiveFragment", "LiveStream", "FRAGMENT_NUMBER_BASE"]

# KVS fragment numbers are long decimal strings; ours are this base + the ordinal.
FRAGMENT_NUMBER_BASE = 91343852333181432392682062600000000000000000000
RETAINED = 300          # fragments kept addressable (10 min of 2 s fragments)
_PAYLOAD_CACHE = 16


@dataclass(frozen=True)
class LiveFragment:
    """A published fragment. ``start_wall`` is its producer timestamp (the playlist PDT)."""

    ordinal: int
    rendition: int
    clip_index: int
    media_start: Fraction           # seconds on the stream's media clock (tfdt / timescale)
    duration: Fraction              # seconds
    start_wall: float
    published_wall: float
    published_mono: float
    corrupt: bool = False
    discontinuity: bool = False     # gap before it (stall) or a new rendition

    @property
    def number(self) -> str:
        """The KVS ``FragmentNumber``."""
        return str(FRAGMENT_NUMBER_BASE + self.ordinal)


class LiveStream:
    """A looping live stream: renditions, published fragments, stall/corrupt/switch faults."""

    def __init__(self, name: str, clip: Clip, backfill: int = 5) -> None:
        self.name = name
        self.created_wall = time.time()
        self._lock = threading.RLock()
        self._renditions: list[Clip] = [clip]
        self._current = 0
        self._clip_pos = 0
        self._published: collections.deque[LiveFragment] = collections.deque(maxlen=RETAINED)
        self._payloads: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._wall_offset = time.time() - time.monotonic()
        self._media = Fraction(0)
        self._stall_until: float | None = None
        self._corrupt_pending = 0
        self._gap_pending = False
        self._due = time.monotonic() - backfill * float(self._next_duration())
        self._due += float(self._next_duration())
        self.advance()

    # -- clock ---------------------------------------------------------------------------
    def _next_duration(self) -> Fraction:
        clip = self._renditions[self._current]
        return Fraction(clip.durations[self._clip_pos % len(clip.durations)], clip.timescale)

    def advance(self, now: float | None = None) -> None:
        """Publish every fragment whose duration has elapsed by ``now`` (monotonic)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._stall_until is not None:
                if now < self._stall_until:
                    return
                self._resume_at(self._stall_until)
            while now >= self._due:
                self._publish(self._due)
                self._due += float(self._next_duration())

    def _resume_at(self, when: float) -> None:
        restart = when
        gap = restart - (self._due - float(self._next_duration()))
        if gap > 0:
            self._media += Fraction(round(gap * 1000), 1000)
        self._due = restart + float(self._next_duration())
        self._stall_until = None
        self._gap_pending = True

    def _publish(self, due: float) -> None:
        duration = self._next_duration()
        clip = self._renditions[self._current]
        previous = self._published[-1] if self._published else None
        fragment = LiveFragment(
            ordinal=previous.ordinal + 1 if previous else 0, rendition=self._current,
            clip_index=self._clip_pos % len(clip.fragments), media_start=self._media,
            duration=duration, start_wall=due - float(duration) + self._wall_offset,
            published_wall=due + self._wall_offset, published_mono=due,
            corrupt=self._corrupt_pending > 0,
            discontinuity=self._gap_pending or bool(previous and previous.rendition != self._current))
        self._corrupt_pending = max(0, self._corrupt_pending - 1)
        self._gap_pending = False
        self._media += duration
        self._clip_pos += 1
        self._published.append(fragment)

    # -- reading -------------------------------------------------------------------------
    def window(self, count: int) -> list[LiveFragment]:
        """The newest ``count`` published fragments, oldest first."""
        self.advance()
        with self._lock:
            return list(self._published)[-count:]

    def published(self) -> list[LiveFragment]:
        """Every retained fragment (for the control API and benchmarks)."""
        return self.window(RETAINED)

    def last_published_mono(self) -> float | None:
        self.advance()
        with self._lock:
            return self._published[-1].published_mono if self._published else None

    def fragment(self, number: str) -> LiveFragment | None:
        """The retained fragment with KVS ``FragmentNumber`` ``number``, if any."""
        self.advance()
        try:
            ordinal = int(number) - FRAGMENT_NUMBER_BASE
        except ValueError:
            return None
        with self._lock:
            if not self._published or ordinal < self._published[0].ordinal:
                return None
            index = ordinal - self._published[0].ordinal
            return self._published[index] if index < len(self._published) else None

    def clip(self, rendition: int | None = None) -> Clip:
        """A rendition's clip (default: the one new fragments come from)."""
        with self._lock:
            return self._renditions[self._current if rendition is None else rendition]

    def payload(self, fragment: LiveFragment) -> bytes:
        """The fragment's bytes: clip fragment restamped (and scrambled if corrupt)."""
        with self._lock:
            cached = self._payloads.get(fragment.ordinal)
            if cached is not None:
                return cached
        clip = self._renditions[fragment.rendition]
        ticks = int(fragment.media_start * clip.timescale)
        data = mp4.restamp(clip.fragments[fragment.clip_index], fragment.ordinal + 1, ticks)
        if fragment.corrupt:
            data = mp4.scramble(data)
        with self._lock:
            self._payloads[fragment.ordinal] = data
            while len(self._payloads) > _PAYLOAD_CACHE:
                self._payloads.popitem(last=False)
        return data

    # -- faults --------------------------------------------------------------------------
    def stall(self, seconds: float | None) -> None:
        """Publish nothing for ``seconds`` (``None``: until ``resume()``)."""
        self.advance()
        with self._lock:
            self._stall_until = float("inf") if seconds is None else time.monotonic() + seconds

    def resume(self) -> None:
        """End a stall now; the next fragment is published one duration later."""
        with self._lock:
            if self._stall_until is not None:
                self._stall_until = min(self._stall_until, time.monotonic())
        self.advance()

    @property
    def stalled(self) -> bool:
        with self._lock:
            return self._stall_until is not None and time.monotonic() < self._stall_until

    def corrupt_next(self, count: int = 1) -> None:
        """Scramble the payload of the next ``count`` fragments to be published."""
        self.advance()
        with self._lock:
            self._corrupt_pending += count

    def switch(self, clip: Clip) -> int:
        """Take new fragments from ``clip`` (a resolution change); returns its rendition index."""
        self.advance()
        with self._lock:
            for index, known in enumerate(self._renditions):  # noqa: B007 - index is used below
                if known is clip:
                    break
            else:
                self._renditions.append(clip)
                index = len(self._renditions) - 1
            self._current = index
            return index
