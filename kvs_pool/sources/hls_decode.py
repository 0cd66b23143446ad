"""Decode fMP4 fragments (init segment + one media fragment at a time) into video frames.

The init segment is opened once with PyAV (codec, codec data, time base, size; FFmpeg's stream
probing skipped: it would decode frames just to learn what the init segment says). Each media
fragment's samples are then read from its box headers (``fmp4``), no demuxer per fragment, and
fed as packets to one persistent ``CodecContext``, drained at the end of the fragment
(``decode(None)`` then ``flush_buffers()``), so every frame of a fragment is out before the next
is fetched. A fragment ``fmp4`` cannot follow is demuxed by PyAV (``av.open`` over init +
fragment) instead. A change of the codec data (new init segment, e.g. a new resolution) builds a
new context. One decoding thread by default: frame threads add CPU (and a frame of delay each)
for nothing when the stream is paced at its own rate.

A frame's ``offset_s`` is its pts minus the fragment's first pts, in seconds: the source adds
it to the fragment's program date-time. In key-frame-only mode only key packets are sent (and
``skip_frame = "NONKEY"`` is set), about 1/GOP of the work of a full decode.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

import av
from av.stream import Stream
from av.video.stream import VideoStream

from kvs_pool.sources import fmp4
from kvs_pool.sources.kvs_errors import FragmentDecodeError

__all__ = ["DecodedFrame", "FragmentInfo", "FragmentDecoder"]

log = logging.getLogger(__name__)

# The init segment's codec data already gives the decoder all it needs: probe as little as
# FFmpeg allows (it otherwise decodes frames to guess stream parameters).
_NO_PROBE = {"probesize": "32", "analyzeduration": "0"}

# A string: PyAV's Packet is generic only in its stubs, not subscriptable at run time.
_VideoPacket: TypeAlias = "av.Packet[Stream] | av.Packet[VideoStream]"
"""A packet of the video track: built from the fragment's bytes (``_packet``, no stream) or
demuxed by PyAV (``_demux_with_pyav``). The decoder takes either."""


@dataclass
class DecodedFrame:
    """One decoded frame (still YUV; convert only the frames you keep)."""

    frame: av.VideoFrame
    offset_s: float


@dataclass
class FragmentInfo:
    """What the demuxer learned about the last fragment."""

    packets: int = 0
    keyframes: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class _Track:
    """What the init segment says about its (first) video track."""

    codec: str
    extradata: bytes | None
    time_base: tuple[int, int]   # numerator, denominator
    width: int
    height: int
    defaults: fmp4.TrackDefaults


def _open(data: bytes) -> av.container.InputContainer:
    return av.open(io.BytesIO(data), "r", format="mp4", container_options=_NO_PROBE)


def _read_track(init: bytes) -> _Track:
    try:
        with _open(init) as container:
            if not container.streams.video:
                raise FragmentDecodeError("init segment has no video track")
            stream = container.streams.video[0]
            cc, tb = stream.codec_context, stream.time_base
            if tb is None:
                raise FragmentDecodeError("init segment's video track has no time base")
            return _Track(cc.name, cc.extradata, (tb.numerator, tb.denominator), cc.width,
                          cc.height, fmp4.track_defaults(init, stream.id))
    except (av.FFmpegError, fmp4.FMP4Error, struct.error) as err:
        raise FragmentDecodeError(f"init segment does not demux: {err}") from err


def _packet(fragment: memoryview, sample: fmp4.Sample) -> av.Packet[Stream]:
    data = fragment[sample.offset:sample.offset + sample.size]
    # the packet's bytes are the one copy of a sample (the slice above is a view)
    packet = av.Packet(data)  # type: ignore[arg-type]  # PyAV reads any buffer; its stub says bytes
    packet.pts, packet.dts, packet.is_keyframe = sample.pts, sample.dts, sample.keyframe
    return packet


class FragmentDecoder:
    """Persistent decoder for a sequence of fMP4 fragments of one stream."""

    def __init__(self, threads: int = 1) -> None:
        """``threads``: decoder threads (1: decode in the caller's thread; 0: FFmpeg picks)."""
        self._threads = threads
        self._context: av.VideoCodecContext | None = None
        self._extradata: bytes | None = None
        self._init: bytes | None = None
        self._track: _Track | None = None
        self.keyframes_only = False
        self.demuxer_opens = 0   # fragments fmp4 could not follow (demuxed by PyAV)
        self.info = FragmentInfo()

    def decode(self, init: bytes, fragment: bytes) -> Iterator[DecodedFrame]:
        """Frames of ``fragment`` in presentation order; ``FragmentDecodeError`` if it is bad."""
        packets, (num, den) = self._demux(init, fragment)
        if not packets:
            raise FragmentDecodeError(f"fragment of {len(fragment)} bytes holds no video samples")
        first = min(p.pts for p in packets if p.pts is not None)   # all have one (``_demux``)
        context = self._context
        assert context is not None
        context.skip_frame = "NONKEY" if self.keyframes_only else "DEFAULT"
        try:
            for packet in packets:
                if self.keyframes_only and not packet.is_keyframe:
                    continue
                for frame in context.decode(packet):
                    pts = frame.pts
                    assert pts is not None   # FFmpeg stamps a frame with its packet's pts
                    yield DecodedFrame(frame, (pts - first) * num / den)
            for frame in context.decode(None):
                pts = frame.pts
                assert pts is not None
                yield DecodedFrame(frame, (pts - first) * num / den)
        except av.FFmpegError as err:
            raise FragmentDecodeError(f"fragment does not decode: {err}") from err
        finally:
            context.flush_buffers()

    def _demux(self, init: bytes, fragment: bytes) -> tuple[list[_VideoPacket], tuple[int, int]]:
        """The fragment's packets (with a pts) and the track's time base."""
        if self._track is None or init != self._init:
            self._track, self._init = _read_track(init), init
        track = self._track
        self._ensure_context(track)
        try:
            found = fmp4.samples(fragment, track.defaults)
            view = memoryview(fragment)
            packets: list[_VideoPacket] = [_packet(view, s) for s in found if s.size]
        except (fmp4.FMP4Error, struct.error) as err:
            log.debug("fragment demuxed by PyAV: %s", err)
            self.demuxer_opens += 1
            packets = self._demux_with_pyav(init, fragment)
        self.info = FragmentInfo(len(packets), sum(p.is_keyframe for p in packets),
                                 track.width, track.height)
        return packets, track.time_base

    def _demux_with_pyav(self, init: bytes, fragment: bytes) -> list[_VideoPacket]:
        try:
            with _open(init + fragment) as container:
                if not container.streams.video:
                    raise FragmentDecodeError("fragment has no video track")
                stream = container.streams.video[0]
                return [p for p in container.demux(stream) if p.size and p.pts is not None]
        except av.FFmpegError as err:
            raise FragmentDecodeError(f"fragment does not demux: {err}") from err

    def _ensure_context(self, track: _Track) -> None:
        if self._context is not None and track.extradata == self._extradata:
            return
        context = av.CodecContext.create(track.codec, "r")
        if not isinstance(context, av.VideoCodecContext):
            raise FragmentDecodeError(f"init segment's video track has codec {track.codec!r}, "
                                      f"which FFmpeg does not decode as video")
        context.extradata = track.extradata
        if self._threads != 1:
            context.thread_count = max(self._threads, 0)
            context.thread_type = "AUTO"
        else:
            context.thread_count = 1
        if self._context is not None:
            log.info("codec data changed: new decoder for %dx%d", track.width, track.height)
        self._context, self._extradata = context, track.extradata

    def close(self) -> None:
        self._context = None
        self._extradata = None
        self._init = self._track = None
