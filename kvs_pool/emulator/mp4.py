"""Fragmented-MP4 surgery: split a file into init + media fragments and restamp fragments.

Only the few boxes the emulator touches are parsed. Every box starts with this header::

    offset  size  field
    0       4     size      u32 big-endian, whole box incl. header (1: 64-bit size follows,
                            0: box runs to the end of the file)
    4       4     type      four ASCII characters
    8       8     largesize u64, only when size == 1

Top level of a fragmented MP4 (``movflags=frag_keyframe+empty_moov+default_base_moof``)::

    ftyp moov | moof mdat | moof mdat | ... | mfra (optional index, dropped)
    `-init--'   `fragment'

Boxes rewritten in place (same length, so no offset inside the fragment moves)::

    moof/mfhd  (full box)  +8 version u8, +9 flags u24, +12 sequence_number u32
    moof/traf/tfdt (full)  +8 version u8, +9 flags u24,
                           +12 baseMediaDecodeTime u32 (version 0) or u64 (version 1)
    moov/trak/mdia/mdhd    +8 version; v0: +20 timescale u32; v1: +28 timescale u32
    mdat                   payload from +8 (the samples); the corrupt-fragment fault scrambles it

Boxes only read, to learn a fragment's duration::

    moof/traf/tfhd (full)  +8 version/flags u32, +12 track_ID u32, then optional fields in order:
                           base_data_offset u64 (flag 0x01), sample_description_index u32 (0x02),
                           default_sample_duration u32 (0x08), default_sample_size u32 (0x10),
                           default_sample_flags u32 (0x20)
    moof/traf/trun (full)  +8 version/flags u32, +12 sample_count u32, data_offset i32 (0x001),
                           first_sample_flags u32 (0x004), then per sample: duration (0x100),
                           size (0x200), flags (0x400), composition offset (0x800), u32 each
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from kvs_pool.errors import KvsPoolError

__all__ = ["MP4Error", "Box", "boxes", "split_fragmented", "SplitMP4", "restamp", "scramble",
           "timescale", "base_decode_time", "duration", "find"]

_CONTAINERS = {b"moov", b"trak", b"mdia", b"moof", b"traf"}


class MP4Error(KvsPoolError):
    """The bytes are not the fragmented MP4 the emulator can serve."""


@dataclass(frozen=True)
class Box:
    """One box: its type, where it starts, its total size and where its payload starts."""

    type: bytes
    start: int
    size: int
    header: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def body(self) -> int:
        return self.start + self.header


def boxes(data: bytes | bytearray, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes laid side by side in ``data[start:end]`` (one level, not recursive)."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise MP4Error(f"box {kind!r} at byte {offset} has a bad size {size}")
        yield Box(kind, offset, size, header)
        offset += size


def _uint(fmt: str, data: bytes | bytearray, offset: int) -> int:
    """The one unsigned integer field packed as ``fmt`` (e.g. ``">I"``) at ``offset``."""
    value: int = struct.unpack_from(fmt, data, offset)[0]
    return value


def find(data: bytes | bytearray, path: str, start: int = 0, end: int | None = None) -> Box | None:
    """The first box at ``path`` (e.g. ``"moof/traf/tfdt"``) inside ``data[start:end]``."""
    first, _, rest = path.partition("/")
    for box in boxes(data, start, end):
        if box.type == first.encode():
            if not rest:
                return box
            if box.type in _CONTAINERS:
                return find(data, rest, box.body, box.end)
    return None


@dataclass(frozen=True)
class SplitMP4:
    """A fragmented MP4 cut at its top-level boxes."""

    init: bytes
    fragments: tuple[bytes, ...]


def split_fragmented(data: bytes) -> SplitMP4:
    """Cut ``ftyp+moov`` (the init segment) and each ``moof+mdat`` pair (a media fragment)."""
    init = bytearray()
    fragments: list[bytes] = []
    pending: Box | None = None
    for box in boxes(data):
        if box.type in (b"ftyp", b"moov") and not fragments and pending is None:
            init += data[box.start:box.end]
        elif box.type == b"moof":
            pending = box
        elif box.type == b"mdat" and pending is not None:
            fragments.append(data[pending.start:box.end])
            pending = None
    if find(init, "moov") is None or not fragments:
        raise MP4Error("not a fragmented MP4 (need ftyp+moov then moof+mdat pairs)")
    return SplitMP4(bytes(init), tuple(fragments))


def timescale(init: bytes) -> int:
    """The video track's time units per second (from ``moov/trak/mdia/mdhd``)."""
    mdhd = find(init, "moov/trak/mdia/mdhd")
    if mdhd is None:
        raise MP4Error("init segment has no mdhd box")
    version = init[mdhd.body]
    return _uint(">I", init, mdhd.body + (20 if version else 12))


def base_decode_time(fragment: bytes) -> int:
    """The fragment's ``tfdt`` baseMediaDecodeTime."""
    tfdt = find(fragment, "moof/traf/tfdt")
    if tfdt is None:
        raise MP4Error("media fragment has no tfdt box")
    if fragment[tfdt.body]:
        return _uint(">Q", fragment, tfdt.body + 4)
    return _uint(">I", fragment, tfdt.body + 4)


def _tfhd_default_duration(fragment: bytes) -> int | None:
    tfhd = find(fragment, "moof/traf/tfhd")
    if tfhd is None:
        return None
    flags = _uint(">I", fragment, tfhd.body) & 0xFFFFFF
    offset = tfhd.body + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
    return _uint(">I", fragment, offset) if flags & 0x08 else None


def duration(fragment: bytes, default: int | None = None) -> int:
    """The fragment's length in timescale units: sum of trun durations or count x default."""
    trun = find(fragment, "moof/traf/trun")
    if trun is None:
        raise MP4Error("media fragment has no trun box")
    flags = _uint(">I", fragment, trun.body) & 0xFFFFFF
    count = _uint(">I", fragment, trun.body + 4)
    offset = trun.body + 8 + (4 if flags & 0x001 else 0) + (4 if flags & 0x004 else 0)
    if flags & 0x100:
        stride = 4 * bin(flags & 0xF00).count("1")
        return sum(_uint(">I", fragment, offset + i * stride) for i in range(count))
    each = _tfhd_default_duration(fragment) or default
    if each is None:
        raise MP4Error("cannot tell the fragment's duration (no sample durations)")
    return count * each


def restamp(fragment: bytes, sequence: int, decode_time: int) -> bytes:
    """A copy of ``fragment`` with mfhd sequence_number and tfdt baseMediaDecodeTime replaced."""
    out = bytearray(fragment)
    mfhd = find(out, "moof/mfhd")
    tfdt = find(out, "moof/traf/tfdt")
    if mfhd is None or tfdt is None:
        raise MP4Error("media fragment lacks mfhd or tfdt")
    struct.pack_into(">I", out, mfhd.body + 4, sequence & 0xFFFFFFFF)
    if out[tfdt.body]:
        struct.pack_into(">Q", out, tfdt.body + 4, decode_time)
    elif decode_time < 1 << 32:
        struct.pack_into(">I", out, tfdt.body + 4, decode_time)
    else:
        raise MP4Error("decode time overflows a version-0 tfdt; encode with FFmpeg (writes v1)")
    return bytes(out)


def scramble(fragment: bytes) -> bytes:
    """A copy of ``fragment`` whose mdat payload's middle half is random garbage."""
    out = bytearray(fragment)
    mdat = find(out, "mdat")
    if mdat is None:
        raise MP4Error("media fragment has no mdat box")
    length = mdat.end - mdat.body
    lo = mdat.body + length // 4
    hi = mdat.body + 3 * length // 4
    out[lo:hi] = os.urandom(hi - lo)
    return bytes(out)
