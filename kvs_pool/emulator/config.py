"""The emulator's own settings (independent of the pool's YAML, which maps onto them)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvs_pool.synth import VideoSpec

__all__ = ["StreamSpec", "EmulatorConfig", "from_pool_config"]


@dataclass(frozen=True)
class StreamSpec:
    """One looping stream: synthetic H.264 of this geometry, or the H.264 file ``file``.

    Fragments are one GOP long (``gop / fps`` seconds); the synthetic clip lasts about
    ``seconds`` (rounded up to whole GOPs) and then loops seamlessly (frame indices wrap).
    Encoded with x264 ``preset`` (ultrafast: a cold 720p start-up stays well under 10 s on a
    loaded 2-core machine; the result is cached).
    """

    name: str
    width: int = 640
    height: int = 360
    fps: float = 25.0
    gop: int = 50
    seconds: float = 10.0
    file: Path | None = None
    preset: str = "ultrafast"
    still_s: float = 0.0          # the last seconds of each loop show no motion


    def video_spec(self, width: int | None = None, height: int | None = None) -> VideoSpec:
        """What ``kvs_pool.synth`` encodes for this stream (optionally at another size)."""
        fps = max(1, round(self.fps))
        gops = max(1, math.ceil(self.seconds * fps / self.gop))
        return VideoSpec(width=width or self.width, height=height or self.height, fps=fps,
                         gop=self.gop, frames=gops * self.gop, preset=self.preset,
                         still_after=self._still_after(gops * self.gop, fps))

    def _still_after(self, frames: int, fps: int) -> int | None:
        """Index from which the synthetic box rests (None: it moves all the time)."""
        still = round(self.still_s * fps)
        return max(frames - still, 0) if still > 0 else None


@dataclass(frozen=True)
class EmulatorConfig:
    """Where to listen, what to serve, and the knobs tests turn.

    ``session_seconds`` overrides the lifetime of new sessions (botocore refuses ``Expires``
    below 300 on the client); ``idle_window_s`` is how long a LIVE stream may publish nothing
    before GetHLSStreamingSessionURL answers ResourceNotFoundException (KVS: 30 s);
    ``backfill`` fragments are published at start-up so a session can open at once;
    ``moto`` passes non-KVS requests to moto's server (Kinesis, S3, DynamoDB) when installed;
    ``rate_limits`` enforces KVS's per-session/per-stream TPS limits (``emulator.limits``);
    ``allow_remote_faults`` serves the control API (``/_emulator/``: faults, state) to
    non-loopback clients too: it changes state without authentication, so it is off.
    """

    streams: tuple[StreamSpec, ...] = (StreamSpec("demo-1"),)
    host: str = "127.0.0.1"
    port: int = 0
    region: str = "us-east-1"
    session_seconds: float | None = None
    idle_window_s: float = 30.0
    backfill: int = 5
    moto: bool = False
    rate_limits: bool = False
    allow_remote_faults: bool = False


def from_pool_config(section: Any, moto: bool = False) -> EmulatorConfig:
    """Map the pool YAML's ``emulator`` section (``kvs_pool.config.EmulatorSection``).

    Fragments are one GOP, so their length is ``gop / fps`` (the section's ``fragment_s`` is
    informative only).
    """
    streams = tuple(
        StreamSpec(name=s.name, width=s.width, height=s.height, fps=float(s.fps), gop=s.gop,
                   seconds=float(s.seconds), file=Path(s.file) if s.file else None,
                   still_s=float(s.still_s))
        for s in section.streams)
    return EmulatorConfig(streams=streams, host=section.host, port=section.port, moto=moto,
                          allow_remote_faults=section.allow_remote_faults)
