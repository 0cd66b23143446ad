"""Which frames a source keeps at a ``target_fps``, and how little it may decode to get them.

Three plans, chosen per GOP from what the demuxer has seen (``choose_plan``):

``all``        target unset or at/above the stream's rate: every frame is decoded and kept.
``sampled``    target between the key-frame rate and the stream's rate: reference frames are
               decoded (later frames need them), kept frames alone are colour-converted, and a
               frame that is not kept and that no other frame references (H.264 ``nal_ref_idc``
               0, HEVC ``*_N`` NAL types: B-frames without pyramid) is never sent to the decoder;
               without B-frames neither is the tail of a GOP after its last kept frame.
``keyframes``  target at or under the key-frame rate: only key-frame packets reach the decoder
               (the equivalent of FFmpeg's ``skip_frame=NONKEY``, without a decode call for the
               packets it would discard).

Measured (``benchmarks/decoder.py``: 25 fps, GOP 50, CPU vs a bare ``cv2.VideoCapture.read``
loop on the same file) at 5 of 25 fps: cv2 ``grab()`` + ``retrieve()`` of 1 in 5 ≈ 0.70 (grab
still decodes everything); PyAV single-thread decode + convert 1 in 5 ≈ 0.65-0.72; this module's
plan with deblocking skipped (``fast_sampling``) ≈ 0.59-0.65 at 720p and 0.49 at 1080p without
B-frames, 0.49-0.56 with 2 B-frames; at 1 fps ≈ 0.31 (GOP tails). Key frames only ≈ 0.05-0.08,
against 0.04-0.07 for FFmpeg's NONKEY without any colour conversion (the floor).

The sampler works on stream time (pts), not wall time, so unpaced file playback at 5 of 25 fps
keeps exactly every fifth frame, and a live stream delivered in bursts is sampled evenly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Sampler", "KeyframeRate", "PacketRouter", "choose_plan", "is_disposable", "PLAN_ALL",
           "PLAN_SAMPLED", "PLAN_KEYFRAMES"]

PLAN_ALL, PLAN_SAMPLED, PLAN_KEYFRAMES = "all", "sampled", "keyframes"
KEY_RATE_SLACK = 1.05   # a target this much above the key-frame rate still samples key frames
_H264_SLICES = (1, 5)   # coded slice of a non-IDR / IDR picture


class Sampler:
    """Keeps the frames closest to an even grid of ``1 / target_fps`` on stream time."""

    def __init__(self, target_fps: float | None, stream_fps: float | None = None) -> None:
        self.period = 1.0 / target_fps if target_fps else 0.0
        interval = 1.0 / stream_fps if stream_fps else self.period
        self.tolerance = min(interval, self.period) / 2 if self.period else 0.0
        self.due: float | None = None

    def take(self, t: float) -> bool:
        """Whether the frame at stream time ``t`` (seconds) is kept; advances the grid if so."""
        if not self.period:
            return True
        if self.due is None or t < self.due - self.period - self.tolerance:
            self.due = t          # first frame, or time went backwards (new stream): restart
        if t + self.tolerance < self.due:
            return False
        self.due += self.period
        if self.due <= t:         # a gap in the stream: do not burst to catch up
            self.due = t + self.period
        return True

    def may_keep(self, t: float) -> bool:
        """Whether ``take(t)`` is likely to keep a frame that has not been decoded yet (a grid
        point lies within the tolerance of ``t``); asked before decoding, in decode order."""
        due = self.next_due(t)
        return due is None or due <= t + self.tolerance

    def next_due(self, t: float) -> float | None:
        """The first grid point a frame at ``t`` or later can be kept for (None: no grid yet)."""
        if not self.period or self.due is None:
            return None
        steps = max(math.ceil((t - self.tolerance - self.due) / self.period), 0)
        return self.due + steps * self.period

    def restart(self) -> None:
        """Forget the grid (after a reconnect)."""
        self.due = None


@dataclass
class KeyframeRate:
    """Key frames per second, learnt from the stream times of key-frame packets."""

    last_key: float | None = None
    interval: float | None = None

    def observe(self, t: float) -> None:
        if self.last_key is not None and t > self.last_key:
            self.interval = t - self.last_key
        self.last_key = t

    @property
    def rate(self) -> float | None:
        return 1.0 / self.interval if self.interval else None

    def reset(self) -> None:
        self.last_key = self.interval = None


class PacketRouter:
    """Decides, packet by packet in decode order, which packets reach the decoder.

    Until the key-frame rate is known (two key frames seen), packets after the first key frame
    are held back for at most one target interval: if the next key frame comes within it, the
    stream is sampled on key frames alone and the held packets are dropped undecoded; otherwise
    they are released (a delay of one target interval, once per connection).
    """

    def __init__(self, target_fps: float | None, stream_fps: float | None,
                 disposable: Callable[[Any], bool]) -> None:
        self.target_fps, self.stream_fps = target_fps, stream_fps
        self.disposable = disposable
        self.sampler = Sampler(target_fps, stream_fps)
        self.keys = KeyframeRate()
        self.plan = choose_plan(target_fps, stream_fps, None)
        self._held: list[tuple[Any, float]] = []
        self._last_t: float | None = None
        self.reordered = False      # B-frames seen: a kept frame may reference a later one
        self.irregular = False      # a key frame came later than the last GOP predicted
        self._tail_skipped = False  # this GOP's tail was dropped (references missing after it)

    def route(self, packet: Any, t: float, key: bool) -> list[tuple[Any, float, bool]]:
        """``(packet, t, decode?)`` for this packet and any released held ones, in order."""
        self.reordered = self.reordered or (self._last_t is not None and t < self._last_t)
        self._last_t = t
        if key:
            self._tail_skipped = False
            self.keys.observe(t)
            self.plan = choose_plan(self.target_fps, self.stream_fps, self.keys.rate)
            drop = self.plan == PLAN_KEYFRAMES
            out = [(p, pt, not drop and self._wanted(p, pt)) for p, pt in self._held]
            self._held = []
            return out + [(packet, t, True)]
        if self._probing(t):
            self._held.append((packet, t))
            return []
        out = [(p, pt, self._wanted(p, pt)) for p, pt in self._held]
        self._held = []
        return out + [(packet, t, self._wanted(packet, t))]

    def _probing(self, t: float) -> bool:
        """Could a key frame still arrive in time for the key-frames-only plan to apply?"""
        if self.plan == PLAN_ALL or self.keys.interval is not None or self.keys.last_key is None:
            return False
        return t - self.keys.last_key <= self.sampler.period * KEY_RATE_SLACK

    def _wanted(self, packet: Any, t: float) -> bool:
        if self.plan == PLAN_ALL:
            return True
        if self.plan == PLAN_KEYFRAMES or self._gop_tail(t):
            return False
        return self.sampler.may_keep(t) or not self.disposable(packet)

    def _gop_tail(self, t: float) -> bool:
        """Whether no kept frame is left before the next key frame (predicted from the last
        GOP), so the rest of this GOP need not be decoded. Only without B-frames (a kept B-frame
        may reference a later picture) and while key frames come when predicted; if one comes
        late after a tail was dropped, the GOP's references are gone: drop until the key frame."""
        keys = self.keys   # an interval is learnt from two key frames: last_key is set too
        if self.reordered or self.irregular or keys.interval is None or keys.last_key is None:
            return self._tail_skipped
        tol = self.sampler.tolerance
        next_key = keys.last_key + keys.interval
        if t > next_key - tol:                               # the key frame is late
            self.irregular = True
            return self._tail_skipped
        due = self.sampler.next_due(t)
        self._tail_skipped = due is not None and due >= next_key - tol
        return self._tail_skipped


def choose_plan(target_fps: float | None, stream_fps: float | None,
                key_rate: float | None) -> str:
    """The decode plan for the next GOP (see the module docstring)."""
    if not target_fps or (stream_fps and target_fps >= stream_fps * 0.999):
        return PLAN_ALL
    if key_rate and target_fps <= key_rate * KEY_RATE_SLACK:
        return PLAN_KEYFRAMES
    return PLAN_SAMPLED


def is_disposable(data: bytes, codec: str, length_prefixed: bool) -> bool:
    """Whether a packet holds a picture no other picture references (safe to drop undecoded).

    ``length_prefixed``: NAL units carry 4-byte big-endian lengths (MP4/avcC, fMP4 HLS) rather
    than Annex-B start codes (MPEG-TS, RTSP). Unknown codecs and malformed data answer False.
    """
    for header in _nal_headers(data, length_prefixed):
        if codec == "h264":
            if header[0] & 0x1F in _H264_SLICES:
                return (header[0] >> 5) & 3 == 0
        elif codec == "hevc":
            nal_type = (header[0] >> 1) & 0x3F
            if nal_type <= 21:   # VCL: TRAIL/TSA/STSA/RADL/RASL even types are sub-layer non-ref
                return nal_type <= 14 and nal_type % 2 == 0
        else:
            return False
    return False


def _nal_headers(data: bytes, length_prefixed: bool) -> list[bytes]:
    """The first two bytes of each NAL unit in the packet (enough for both codecs)."""
    heads: list[bytes] = []
    if length_prefixed:
        i = 0
        while i + 6 <= len(data):
            size = int.from_bytes(data[i:i + 4], "big")
            heads.append(data[i + 4:i + 6])
            i += 4 + size
        return heads
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 5 <= len(data):
        heads.append(data[i + 3:i + 5])
        i = data.find(b"\x00\x00\x01", i + 3)
    return heads
