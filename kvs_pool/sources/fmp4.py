"""The samples of one track of a fragmented-MP4 media fragment (``moof`` + ``mdat``), read from
the box headers alone, so a fragment needs no demuxer of its own (``hls_decode`` used to open
one per fragment, which cost more than a frame's decode).

Boxes read (full boxes: version u8 + flags u24 at +0 of the payload; all big-endian)::

    moov/mvex/trex  +4 track_ID, +8 default_sample_description_index, +12 default_sample_duration,
                    +16 default_sample_size, +20 default_sample_flags            (u32 each)
    moof/traf/tfhd  +4 track_ID, then, when their flag is set, in this order:
                    base_data_offset u64 (0x01), sample_description_index u32 (0x02),
                    default_sample_duration u32 (0x08), default_sample_size u32 (0x10),
                    default_sample_flags u32 (0x20); 0x20000 default-base-is-moof
    moof/traf/tfdt  +4 baseMediaDecodeTime: u32 (version 0) or u64 (version 1)
    moof/traf/trun  +4 sample_count u32, data_offset i32 (0x001), first_sample_flags u32 (0x004),
                    then per sample, when set: duration u32 (0x100), size u32 (0x200),
                    flags u32 (0x400), composition time offset i32 (0x800)

Sample data starts at ``base + data_offset`` (base: ``base_data_offset``, else the ``moof``'s
first byte); a ``trun`` without a data offset continues where the previous one ended. A sample
is a key frame unless its flags say "not a sync sample" (0x00010000) or "depends on others"
(0x01000000), as FFmpeg's mov demuxer reads them. Anything this reader does not follow (no
``tfdt``, implicit offsets of a second ``traf``, a sample outside the fragment) raises
``FMP4Unsupported``: the caller then opens a real demuxer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from kvs_pool.errors import KvsPoolError

__all__ = ["FMP4Error", "FMP4Unsupported", "Sample", "TrackDefaults", "track_defaults", "samples"]

_NOT_KEY = 0x01010000
_TFHD_FIELDS = ((0x01, 8, "base"), (0x02, 4, None), (0x08, 4, "duration"),
                (0x10, 4, "size"), (0x20, 4, "flags"))


class FMP4Error(KvsPoolError):
    """The bytes are not well-formed MP4 boxes."""


class FMP4Unsupported(FMP4Error):
    """A fragment laid out in a way this reader does not follow."""


@dataclass(frozen=True)
class _Box:
    type: bytes
    start: int    # first byte of the header
    body: int     # first byte of the payload
    end: int


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[_Box]:
    """The boxes side by side in ``data[start:end]``: u32 size (1: u64 follows; 0: to the end),
    then the four-character type."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 16 if size == 1 else 8
        size = struct.unpack_from(">Q", data, start + 8)[0] if size == 1 else size or end - start
        if size < header or start + size > end:
            raise FMP4Error(f"box {kind!r} at byte {start} has a bad size {size}")
        yield _Box(kind, start, start + header, start + size)
        start += size


def _child(data: bytes, kind: bytes, parent: _Box | None) -> _Box | None:
    if parent is None:
        return None
    return next((b for b in _boxes(data, parent.body, parent.end) if b.type == kind), None)


@dataclass(frozen=True)
class Sample:
    """One sample: where its bytes are in the fragment, its decode and presentation times."""

    offset: int
    size: int
    dts: int
    pts: int
    keyframe: bool


@dataclass(frozen=True)
class TrackDefaults:
    """A track's ``trex`` defaults (zeros when the init segment has none)."""

    track_id: int
    duration: int = 0
    size: int = 0
    flags: int = 0


def track_defaults(init: bytes, track_id: int) -> TrackDefaults:
    """The ``trex`` defaults of ``track_id`` in ``init``."""
    moov = next((b for b in _boxes(init) if b.type == b"moov"), None)
    mvex = _child(init, b"mvex", moov)
    for box in _boxes(init, mvex.body, mvex.end) if mvex else ():
        if box.type == b"trex":
            tid, _, duration, size, flags = struct.unpack_from(">5I", init, box.body + 4)
            if tid == track_id:
                return TrackDefaults(track_id, duration, size, flags)
    return TrackDefaults(track_id)


def samples(fragment: bytes, track: TrackDefaults) -> list[Sample]:
    """The samples of ``track`` in ``fragment``, in decode order."""
    out: list[Sample] = []
    for moof in (b for b in _boxes(fragment) if b.type == b"moof"):
        trafs = [b for b in _boxes(fragment, moof.body, moof.end) if b.type == b"traf"]
        for n, traf in enumerate(trafs):
            out += _traf_samples(fragment, moof.start, traf.body, traf.end, track, first=n == 0)
    for sample in out:
        if sample.offset < 0 or sample.offset + sample.size > len(fragment):
            raise FMP4Unsupported(f"sample of {sample.size} bytes at {sample.offset} lies "
                                  f"outside the {len(fragment)}-byte fragment")
    return out


def _tfhd(data: bytes, start: int) -> tuple[int, int, dict[str, int]]:
    """``(flags, track_ID, fields present)`` of the tfhd whose payload starts at ``start``."""
    flags, track_id = struct.unpack_from(">II", data, start)
    flags &= 0xFFFFFF
    fields, offset = {}, start + 8
    for bit, width, name in _TFHD_FIELDS:
        if flags & bit:
            if name:
                fields[name] = struct.unpack_from(">Q" if width == 8 else ">I", data, offset)[0]
            offset += width
    return flags, track_id, fields


def _traf_samples(data: bytes, moof_start: int, start: int, end: int, track: TrackDefaults,
                  first: bool) -> list[Sample]:
    children = {b.type: b for b in _boxes(data, start, end) if b.type != b"trun"}
    tfhd, tfdt = children.get(b"tfhd"), children.get(b"tfdt")
    if tfhd is None:
        raise FMP4Unsupported("traf without tfhd")
    flags, track_id, fields = _tfhd(data, tfhd.body)
    if track_id != track.track_id:
        return []
    if tfdt is None:
        raise FMP4Unsupported("traf without tfdt (decode times unknown)")
    if "base" not in fields and not (flags & 0x20000 or first):
        raise FMP4Unsupported("second traf with an implicit data offset")
    version = data[tfdt.body]
    dts = struct.unpack_from(">Q" if version else ">I", data, tfdt.body + 4)[0]
    defaults = TrackDefaults(track_id, fields.get("duration", track.duration),
                             fields.get("size", track.size), fields.get("flags", track.flags))
    position = fields.get("base", moof_start)
    base, out = position, []
    for trun in (b for b in _boxes(data, start, end) if b.type == b"trun"):
        for sample, duration in _trun(data, trun.body, base, position, dts, defaults):
            out.append(sample)
            dts, position = sample.dts + duration, sample.offset + sample.size
    return out


def _trun(data: bytes, start: int, base: int, position: int, dts: int, defaults: TrackDefaults
          ) -> Iterator[tuple[Sample, int]]:
    """``(sample, duration)`` for each entry of the trun whose payload starts at ``start``."""
    flags, count = struct.unpack_from(">II", data, start)
    flags &= 0xFFFFFF
    offset = start + 8
    if flags & 0x001:
        position = base + struct.unpack_from(">i", data, offset)[0]
        offset += 4
    first_flags = None
    if flags & 0x004:
        first_flags = struct.unpack_from(">I", data, offset)[0]
        offset += 4
    fields = [(bit, name) for bit, name in ((0x100, "duration"), (0x200, "size"),
                                            (0x400, "flags"), (0x800, "cto")) if flags & bit]
    row = struct.Struct(">" + "".join("i" if name == "cto" else "I" for _, name in fields))
    for n in range(count):
        values = dict(zip((name for _, name in fields), row.unpack_from(data, offset)))
        offset += row.size
        sample_flags = values.get("flags", defaults.flags)
        if n == 0 and first_flags is not None:
            sample_flags = first_flags
        size, duration = values.get("size", defaults.size), values.get("duration", defaults.duration)
        yield (Sample(position, size, dts, dts + values.get("cto", 0),
                      not sample_flags & _NOT_KEY), duration)
        position += size
        dts += duration
