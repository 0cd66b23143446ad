"""Read a ring's header: check it is a ring we understand, and snapshot it as ``RingStatus``.

Shared by the writer, the reader and the owner so that every attacher applies the same checks
(magic, layout version, size) and the metrics collector reads the same snapshot.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass
from typing import Protocol

from kvs_pool.errors import RingError, RingLayoutError
from kvs_pool.ring.layout import HEADER_SIZE, LAYOUT_VERSION, MAGIC, HeaderWord, PoolState, SlotWord
from kvs_pool.ring.segment import Mapping, open_segment

__all__ = ["HeaderView", "RingStatus", "read_status", "attach_mapping", "pid_alive"]

log = logging.getLogger(__name__)

_ORDERING_WARNED = False
_READY_WAIT_S = 2.0  # an owner writes the magic last; give a racing attacher this long


class HeaderView(Protocol):
    """What the layout checks and ``read_status`` read of a ring: a live ``Mapping``, or the
    private copy of a header page that ``peek_status`` takes."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...  # of the whole segment, in bytes
    @property
    def hdr(self) -> memoryview[int]: ...  # the header's words as u64
    @property
    def hdr_f(self) -> memoryview[float]: ...  # the same words as f64


@dataclass(frozen=True)
class RingStatus:
    """A snapshot of a ring header (what the metrics collector reads at scrape time).

    ``*_mono`` are ``time.monotonic()`` values (system-wide on Linux, comparable across
    processes); ``last_frame_wall`` is the Unix capture time of the last frame (0: none yet).
    """

    name: str
    owner_pid: int
    producer_pid: int
    producer_alive: bool
    pool_open: bool
    generation: int
    write_seq: int
    heartbeat_mono: float
    last_frame_mono: float
    last_frame_wall: float
    fps: float
    frames: int
    reconnects: int
    url_refreshes: int
    read_errors: int
    skipped: int
    state: int
    writer_starts: int
    width: int
    height: int
    channels: int
    max_width: int
    max_height: int
    max_channels: int
    slots: int
    slot_size: int

    @property
    def heartbeat_age(self) -> float:
        """Seconds since the decoder last proved progress (inf if it never did)."""
        return time.monotonic() - self.heartbeat_mono if self.heartbeat_mono else float("inf")

    @property
    def last_frame_age(self) -> float:
        """Seconds since the last commit (inf if no frame yet)."""
        return time.monotonic() - self.last_frame_mono if self.last_frame_mono else float("inf")


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (EPERM counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def closed_reason(state: int, pool: str = "") -> str | None:
    """Why the owner closed a ring, for the error its readers and writer raise (None: open)."""
    named = f"pool {pool!r}" if pool else "its pool"
    if state == PoolState.REMOVED:
        return f"the camera was removed from {named} (the pool runs on without it)"
    if state == PoolState.CLOSED:
        return f"the {named} has stopped" if pool else "the pool has stopped"
    return None


def read_status(m: HeaderView) -> RingStatus:
    """Snapshot the header of a mapping (fields are read one by one, not as a transaction)."""
    u, f = m.hdr, m.hdr_f
    producer = int(u[HeaderWord.PRODUCER_PID])
    return RingStatus(
        name=m.name, owner_pid=int(u[HeaderWord.OWNER_PID]), producer_pid=producer,
        producer_alive=pid_alive(producer), pool_open=int(u[HeaderWord.POOL_STATE]) == PoolState.OPEN,
        generation=int(u[HeaderWord.GENERATION]), write_seq=int(u[HeaderWord.WRITE_SEQ]),
        heartbeat_mono=float(f[HeaderWord.HEARTBEAT_MONO]),
        last_frame_mono=float(f[HeaderWord.LAST_FRAME_MONO]),
        last_frame_wall=float(f[HeaderWord.LAST_FRAME_WALL]), fps=float(f[HeaderWord.FPS]),
        frames=int(u[HeaderWord.FRAMES]), reconnects=int(u[HeaderWord.RECONNECTS]),
        url_refreshes=int(u[HeaderWord.URL_REFRESHES]), read_errors=int(u[HeaderWord.READ_ERRORS]),
        skipped=int(u[HeaderWord.SKIPPED]), state=int(u[HeaderWord.STATE]),
        writer_starts=int(u[HeaderWord.WRITER_STARTS]), width=int(u[HeaderWord.WIDTH]),
        height=int(u[HeaderWord.HEIGHT]), channels=int(u[HeaderWord.CHANNELS]),
        max_width=int(u[HeaderWord.MAX_WIDTH]), max_height=int(u[HeaderWord.MAX_HEIGHT]),
        max_channels=int(u[HeaderWord.MAX_CHANNELS]), slots=int(u[HeaderWord.SLOT_COUNT]),
        slot_size=int(u[HeaderWord.SLOT_SIZE]))


def _warn_weak_ordering() -> None:
    """Once per process: the seqlock relies on x86-64's store/load ordering (see writer.py)."""
    global _ORDERING_WARNED
    if not _ORDERING_WARNED and platform.machine().lower() not in ("x86_64", "amd64"):
        _ORDERING_WARNED = True
        log.warning("kvs-pool rings rely on x86-64 memory ordering; on %s a frame being "
                    "overwritten may go undetected by is_intact()", platform.machine())


def attach_mapping(name: str, what: str, readonly: bool) -> Mapping:
    """Attach segment ``name``, check its layout, map its slots; ``what`` names it in errors."""
    _warn_weak_ordering()
    shm = open_segment(name, what)
    if shm.size < HEADER_SIZE:
        shm.close()
        raise RingLayoutError(f"{what}: segment {name} is {shm.size} bytes, too small to be a "
                              "kvs-pool ring")
    m = Mapping(shm, readonly)
    try:
        _check_layout(m, what)
    except RingError:
        m.close()
        raise
    u = m.hdr
    m.map_slots(int(u[HeaderWord.SLOT_COUNT]), int(u[HeaderWord.SLOT_SIZE]), int(u[HeaderWord.PIXEL_OFFSET]))
    m.populate(write=not readonly)
    return m


def _check_geometry(m: HeaderView, what: str) -> None:
    """The slots the header describes must lie inside the segment (a corrupt header is an
    error naming the ring, not a ValueError from mapping slots past its end)."""
    u = m.hdr
    slots, slot_size, pixel_offset = (int(u[HeaderWord.SLOT_COUNT]), int(u[HeaderWord.SLOT_SIZE]),
                                      int(u[HeaderWord.PIXEL_OFFSET]))
    if not (slots >= 1 and SlotWord.WORDS * 8 <= pixel_offset < slot_size
            and HEADER_SIZE + slots * slot_size <= m.size):
        raise RingLayoutError(f"{what}: ring {m.name} has a corrupt header ({slots} slots of "
                              f"{slot_size} bytes, pixels at {pixel_offset}, in "
                              f"{m.size} bytes)")


def _check_layout(m: HeaderView, what: str) -> None:
    u = m.hdr
    deadline = time.monotonic() + _READY_WAIT_S
    while int(u[HeaderWord.MAGIC]) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the owner is still initialising the header
    if int(u[HeaderWord.MAGIC]) != MAGIC:
        raise RingLayoutError(f"{what}: segment {m.name} is not a kvs-pool ring (bad magic)")
    version = int(u[HeaderWord.VERSION])
    if version != LAYOUT_VERSION:
        raise RingLayoutError(f"{what}: ring {m.name} has layout version {version}, this "
                              f"kvs-pool reads version {LAYOUT_VERSION}: use the same kvs-pool "
                              "version as the pool")
    expected = int(u[HeaderWord.TOTAL_SIZE])
    if m.size < expected:
        raise RingLayoutError(f"{what}: ring {m.name} is {m.size} bytes but its header "
                              f"says {expected}")
    _check_geometry(m, what)
    reason = closed_reason(int(u[HeaderWord.POOL_STATE]))
    if reason:
        raise RingError(f"{what}: {reason} (ring {m.name} is closed)")
