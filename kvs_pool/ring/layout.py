"""The ring's byte layout: one place that says where every field of a segment lives.

A segment is a header page followed by ``slots`` slots of ``slot_size`` bytes each. Every
numeric field is one little-endian 8-byte word, so each is read or written by a single aligned
machine store/load (no torn integers across processes). Fields marked f64 are IEEE doubles,
the rest unsigned 64-bit integers; the futex word is the low 32 bits of its word.

Header page (4096 bytes; word index -> byte offset = 8 * index)::

    word  field              type  written by  meaning
    ----  -----------------  ----  ----------  ------------------------------------------------
       0  magic              u64   owner       b"KVSPRING" (written last at creation)
       1  layout_version     u64   owner       LAYOUT_VERSION; readers refuse any other
       2  header_size        u64   owner       4096
       3  slot_count         u64   owner       K
       4  slot_size          u64   owner       bytes per slot, a multiple of 4096
       5  pixel_offset       u64   owner       offset of the pixels inside a slot (4096)
       6  max_width          u64   owner       capacity, fixed at creation
       7  max_height         u64   owner
       8  max_channels       u64   owner
       9  dtype              u64   owner       0 = uint8 (the only one so far)
      10  total_size         u64   owner       header_size + K * slot_size
      11  owner_pid          u64   owner       the supervisor that created the ring
      12  pool_state         u64   owner       1 open, 2 closed (pool stopping; unlink follows)
      16  write_seq          u64   writer      last committed sequence n (0: nothing yet)
      17  futex              u32   writer      bumped after each commit (and by the owner at
                                               close); readers FUTEX_WAIT on it
      18  generation         u64   writer      bumped when the frame geometry changes
      19  producer_pid       u64   writer      decoder process (0: none attached)
      20  heartbeat_mono     f64   writer      time.monotonic() of the decoder's last progress
      21  last_frame_mono    f64   writer      time.monotonic() of the last commit
      22  last_frame_wall    f64   writer      capture time (Unix s) of the last commit
      23  fps                f64   writer      EWMA of the commit rate
      24  width              u64   writer      geometry of the current generation
      25  height             u64   writer
      26  channels           u64   writer
      27  stride             u64   writer      bytes per row
      28  writer_starts      u64   writer      how many times a writer attached (decoder starts)
      32  frames             u64   writer      decoder counters (``RingWriter.add``)
      33  reconnects         u64   writer
      34  url_refreshes      u64   writer
      35  read_errors        u64   writer
      36  skipped            u64   writer
      37  state              u64   writer      connection state 0..4 (see ``ConnectionState``)

Owner fields sit on the first cache line pair, writer-hot fields from word 16 (byte 128) so the
commit path does not share a line with fields readers only check at attach.

Slot (``slot_size`` bytes; meta words at the slot's start, pixels at ``pixel_offset``)::

    word  field        type  meaning
    ----  -----------  ----  -------------------------------------------------------------
       0  seq          u64   seqlock: 2n-1 while frame n is written, 2n once committed
       1  capture_ts   f64   Unix seconds (from the stream when it has one)
       2  decode_ts    f64   Unix seconds when decoded
       3  height       u64
       4  width        u64
       5  channels     u64
       6  stride       u64   bytes per row (== width * channels today: loaned arrays are
                             C-contiguous because cv2.read(buf) refuses anything else)
       7  generation   u64
       8  commit_mono  f64   time.monotonic() at commit (wake-up latency measurement)

Why pixels are page-aligned (offset 4096 in each slot, slots a multiple of 4096): a 1080p frame
is 6 MB, so the 4 KB of padding per slot costs nothing, and page alignment keeps every slot's
pixels aligned for SIMD copies and lets the kernel populate whole pages per slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from kvs_pool.errors import RingError

__all__ = [
    "LAYOUT_VERSION", "MAGIC", "PAGE", "HEADER_SIZE", "PIXEL_OFFSET", "NAME_PREFIX",
    "RingGeometry", "ConnectionState", "PoolState", "HeaderWord", "SlotWord", "segment_name",
    "validate_name", "slot_size_for",
]

LAYOUT_VERSION = 1
MAGIC = int.from_bytes(b"KVSPRING", "little")
PAGE = 4096
HEADER_SIZE = PAGE
PIXEL_OFFSET = PAGE
NAME_PREFIX = "kvspool"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


class HeaderWord:
    """Header word indexes (see the table in the module docstring)."""

    MAGIC, VERSION, HEADER_SIZE, SLOT_COUNT, SLOT_SIZE, PIXEL_OFFSET = 0, 1, 2, 3, 4, 5
    MAX_WIDTH, MAX_HEIGHT, MAX_CHANNELS, DTYPE, TOTAL_SIZE, OWNER_PID, POOL_STATE = (
        6, 7, 8, 9, 10, 11, 12)
    WRITE_SEQ, FUTEX, GENERATION, PRODUCER_PID = 16, 17, 18, 19
    HEARTBEAT_MONO, LAST_FRAME_MONO, LAST_FRAME_WALL, FPS = 20, 21, 22, 23
    WIDTH, HEIGHT, CHANNELS, STRIDE, WRITER_STARTS = 24, 25, 26, 27, 28
    FRAMES, RECONNECTS, URL_REFRESHES, READ_ERRORS, SKIPPED, STATE = 32, 33, 34, 35, 36, 37
    WORDS = 512  # 4096 / 8


class SlotWord:
    """Slot meta word indexes (see the table in the module docstring)."""

    SEQ, CAPTURE_TS, DECODE_TS, HEIGHT, WIDTH, CHANNELS, STRIDE, GENERATION, COMMIT_MONO = range(9)
    WORDS = 16


COUNTERS = ("frames", "reconnects", "url_refreshes", "read_errors", "skipped")
COUNTER_WORDS = {name: HeaderWord.FRAMES + i for i, name in enumerate(COUNTERS)}


class ConnectionState(IntEnum):
    """The decoder's connection state, exported as the ``kvs_hls_connection_state`` gauge."""

    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    RECONNECTING = 3
    ERROR = 4


class PoolState(IntEnum):
    """Owner's mark in the header: readers tell a stopping pool from a restarting decoder."""

    CREATING = 0
    OPEN = 1
    CLOSED = 2
    REMOVED = 3     # closed because the camera left the pool's config; the pool runs on


@dataclass(frozen=True)
class RingGeometry:
    """Capacity of a ring, fixed at creation: the largest frame it holds and how many slots."""

    max_width: int
    max_height: int
    channels: int = 3
    slots: int = 8

    def __post_init__(self) -> None:
        for field, value, low, high in (("max_width", self.max_width, 1, 16384),
                                        ("max_height", self.max_height, 1, 16384),
                                        ("channels", self.channels, 1, 4),
                                        ("slots", self.slots, 2, 1024)):
            if not isinstance(value, int) or not low <= value <= high:
                raise RingError(f"ring geometry {field}={value!r} must be an integer in "
                                f"[{low}, {high}]")

    @property
    def frame_bytes(self) -> int:
        """Bytes of the largest frame a slot holds."""
        return self.max_width * self.max_height * self.channels

    @property
    def slot_size(self) -> int:
        return slot_size_for(self.frame_bytes)

    @property
    def total_size(self) -> int:
        """Bytes of the whole segment (what /dev/shm must have free)."""
        return HEADER_SIZE + self.slots * self.slot_size


def slot_size_for(frame_bytes: int) -> int:
    """Slot stride: one page of meta then the pixels, rounded up to whole pages."""
    return PIXEL_OFFSET + (frame_bytes + PAGE - 1) // PAGE * PAGE


def validate_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid pool name / camera id, else raise ``RingError``."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise RingError(f"invalid {kind} {value!r}: must match {_NAME_RE.pattern} "
                        "(letters, digits, '_' and '-', at most 48, not starting with '_'/'-')")
    return value


def segment_name(pool: str, camera_id: str) -> str:
    """``kvspool.<pool>.<camera_id>``, the segment's name (``/dev/shm/<name>`` on Linux)."""
    return f"{NAME_PREFIX}.{validate_name('pool name', pool)}.{validate_name('camera id', camera_id)}"
