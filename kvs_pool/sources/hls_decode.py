"""Decode fMP4 fragments (init segment + one media fragment at a time) into video frames.

Each fragment is demuxed on its own (``av.open`` over the bytes of init + fragment: a valid
fragmented MP4) and its packets fed to one persistent H.264 ``CodecContext``, drained at the end
of the fragment (``decode(None)`` then ``flush_buffers()``), so every frame of a fragment is out
before the next is fetched. A change of the codec data (new init segment, e.g. a new resolution)
builds a new context. One decoding thread by default: frame threads add CPU (and a frame of
delay each) for nothing when the stream is paced at its own rate; the demuxer skips FFmpeg's
stream probing, which would decode frames again just to learn what the init segment says.

A frame's ``offset_s`` is its pts minus the fragment's first pts, in seconds: the source adds
it to the fragment's program date-time. In key-frame-only mode only key packets are sent (and
``skip_frame = "NONKEY"`` is set), about 1/GOP of the work of a full decode.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import av

from kvs_pool.sources.kvs_errors import FragmentDecodeError

__all__ = ["DecodedFrame", "FragmentInfo", "FragmentDecoder"]

log = logging.getLogger(__name__)

# The init segment's avcC already gives the decoder all it needs: probe as little as FFmpeg
# allows (it otherwise decodes frames to guess stream parameters, ~half the cost of the open).
_NO_PROBE = {"probesize": "32", "analyzeduration": "0"}


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


class FragmentDecoder:
    """Persistent decoder for a sequence of fMP4 fragments of one stream."""

    def __init__(self, threads: int = 1) -> None:
        """``threads``: decoder threads (1: decode in the caller's thread; 0: FFmpeg picks)."""
        self._threads = threads
        self._context: av.VideoCodecContext | None = None
        self._extradata: bytes | None = None
        self.keyframes_only = False
        self.info = FragmentInfo()

    def decode(self, init: bytes, fragment: bytes) -> Iterator[DecodedFrame]:
        """Frames of ``fragment`` in presentation order; ``FragmentDecodeError`` if it is bad."""
        packets, time_base = self._demux(init, fragment)
        if not packets:
            raise FragmentDecodeError(f"fragment of {len(fragment)} bytes holds no video samples")
        first = min(p.pts for p in packets if p.pts is not None)
        context = self._context
        assert context is not None
        context.skip_frame = "NONKEY" if self.keyframes_only else "DEFAULT"
        try:
            for packet in packets:
                if self.keyframes_only and not packet.is_keyframe:
                    continue
                for frame in context.decode(packet):
                    yield DecodedFrame(frame, float((frame.pts - first) * time_base))
            for frame in context.decode(None):
                yield DecodedFrame(frame, float((frame.pts - first) * time_base))
        except av.FFmpegError as err:
            raise FragmentDecodeError(f"fragment does not decode: {err}") from err
        finally:
            context.flush_buffers()

    def _demux(self, init: bytes, fragment: bytes) -> tuple[list[av.Packet], object]:
        try:
            with av.open(io.BytesIO(init + fragment), format="mp4",
                         container_options=_NO_PROBE) as container:
                if not container.streams.video:
                    raise FragmentDecodeError("fragment has no video track")
                stream = container.streams.video[0]
                self._ensure_context(stream)
                packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
                time_base = stream.time_base
                self.info = FragmentInfo(len(packets), sum(p.is_keyframe for p in packets),
                                         stream.codec_context.width, stream.codec_context.height)
        except av.FFmpegError as err:
            raise FragmentDecodeError(f"fragment does not demux: {err}") from err
        return packets, time_base

    def _ensure_context(self, stream: av.VideoStream) -> None:
        extradata = stream.codec_context.extradata
        if self._context is not None and extradata == self._extradata:
            return
        context = av.CodecContext.create(stream.codec_context.name, "r")
        context.extradata = extradata
        if self._threads != 1:
            context.thread_count = max(self._threads, 0)
            context.thread_type = "AUTO"
        else:
            context.thread_count = 1
        if self._context is not None:
            log.info("codec data changed: new decoder for %dx%d",
                     stream.codec_context.width, stream.codec_context.height)
        self._context, self._extradata = context, extradata

    def close(self) -> None:
        self._context = None
        self._extradata = None
