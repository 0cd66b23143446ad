"""The emulator's video: synthetic H.264 encoded once per spec (cached on disk) or a given file,
held in memory as an fMP4 init segment plus media fragments, one fragment per GOP.

Cache: ``$KVS_POOL_CACHE_DIR`` or ``~/.cache/kvs-pool``, sub-directory ``emulator/``; files are
named by a hash of the encoding spec and written atomically (temp + rename), so parallel tests
and demo start-ups share them safely.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av

from kvs_pool.emulator import mp4
from kvs_pool.synth import VideoSpec, encode_file

__all__ = ["Clip", "synthetic_clip", "file_clip", "cache_dir", "FRAGMENTED_MP4"]

log = logging.getLogger(__name__)

FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
_CACHE_VERSION = "1"


@dataclass(frozen=True)
class Clip:
    """One rendition: init segment, media fragments and their durations (timescale units)."""

    init: bytes
    fragments: tuple[bytes, ...]
    durations: tuple[int, ...]
    timescale: int
    width: int
    height: int
    fps: float

    @property
    def total(self) -> int:
        """The whole clip's length in timescale units (the tfdt step of one loop)."""
        return sum(self.durations)

    @property
    def codecs(self) -> str:
        """RFC 6381 codec string for the master playlist, from the avcC box (``avc1.PPCCLL``)."""
        at = self.init.find(b"avcC")
        return f"avc1.{self.init[at + 5:at + 8].hex()}" if at > 0 else "avc1.640028"


def cache_dir() -> Path:
    """Where encoded media is kept between runs."""
    root = os.environ.get("KVS_POOL_CACHE_DIR") or Path.home() / ".cache" / "kvs-pool"
    path = Path(root) / "emulator"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clip_from_bytes(data: bytes, width: int, height: int, fps: float) -> Clip:
    parts = mp4.split_fragmented(data)
    scale = mp4.timescale(parts.init)
    per_frame = round(scale / fps) if fps else None
    durations = tuple(mp4.duration(f, default=per_frame) for f in parts.fragments)
    return Clip(parts.init, parts.fragments, durations, scale, width, height, fps)


def synthetic_clip(spec: VideoSpec) -> Clip:
    """Encode ``spec`` to fragmented MP4 (or reuse the cached file) and load it."""
    key = hashlib.sha256(f"{_CACHE_VERSION}:{spec!r}".encode()).hexdigest()[:16]
    path = cache_dir() / f"synth-{spec.width}x{spec.height}-{key}.mp4"
    if not path.exists():
        started = time.monotonic()
        fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=path.parent)
        os.close(fd)
        try:
            encode_file(tmp, spec, fmt="mp4", options=FRAGMENTED_MP4)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        log.info("encoded %s in %.1f s", path.name, time.monotonic() - started)
    return _clip_from_bytes(path.read_bytes(), spec.width, spec.height, spec.fps)


def file_clip(path: str | Path) -> Clip:
    """Load an H.264 file: used as is when already fragmented, else remuxed (no re-encode)."""
    path = Path(path)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        fps = float(video.average_rate or video.guessed_rate or 25)
    data = path.read_bytes()
    try:
        return _clip_from_bytes(data, width, height, fps)
    except mp4.MP4Error:
        pass
    fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=cache_dir())
    os.close(fd)
    try:
        _remux(path, Path(tmp))
        return _clip_from_bytes(Path(tmp).read_bytes(), width, height, fps)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _remux(source: Path, target: Path) -> None:
    """Copy the first video stream of ``source`` into fragmented MP4, one fragment per GOP."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4",
                                               options=FRAGMENTED_MP4) as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
