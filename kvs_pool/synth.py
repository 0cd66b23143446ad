"""Synthetic test video: frames that carry their own index, encoded to real H.264 with PyAV.

Used by the emulator (the demo's cameras), the tests and the benchmarks, so that no video has
to be downloaded. Each frame is a textured background with a moving box and, in its top-left
corner, the frame index as a row of black/white blocks that survive H.264 compression::

    column:  0      1      2   ...  BITS-1      (each block BLOCK x BLOCK pixels, row 0)
    value:   bit15  bit14  ...      bit0        white = 1, black = 0

``frame_index(image)`` reads the index back from a decoded BGR frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["VideoSpec", "make_frame", "frame_index", "encode_file", "frames"]

BLOCK = 16
BITS = 16


@dataclass(frozen=True)
class VideoSpec:
    """What to encode: geometry, rate, GOP (key-frame interval) and length."""

    width: int = 640
    height: int = 360
    fps: int = 25
    gop: int = 50
    frames: int = 100
    bframes: int = 0
    preset: str = "veryfast"
    first_index: int = 0
    still_after: int | None = None   # the box stops moving at this index (motion, then none)


def _background(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    tex = ((xx // 8 + yy // 8) % 2) * 40 + (xx * 100 // max(width, 1))
    return np.stack([tex, (yy * 120 // max(height, 1)) + 40, 200 - tex // 2], axis=-1).astype(np.uint8)


def make_frame(spec: VideoSpec, index: int, background: np.ndarray | None = None) -> np.ndarray:
    """The BGR frame number ``index`` of ``spec``: background, moving box, index stamp."""
    frame = (background if background is not None else _background(spec.height, spec.width)).copy()
    size = max(spec.height // 6, 8)
    at = index if spec.still_after is None else min(index, spec.still_after)
    x = (at * 7) % max(spec.width - size, 1)
    y = spec.height // 2 - size // 2 + int(spec.height / 5 * np.sin(at / 15))
    frame[y:y + size, x:x + size] = (30, 30, 230)
    for bit in range(BITS):
        value = 255 if (index >> (BITS - 1 - bit)) & 1 else 0
        frame[0:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = value
    return frame


def frame_index(image: np.ndarray) -> int:
    """Read back the index stamped by ``make_frame`` from a decoded frame (BGR or grey)."""
    index = 0
    for bit in range(BITS):
        block = image[BLOCK // 4:BLOCK * 3 // 4, bit * BLOCK + BLOCK // 4:(bit + 1) * BLOCK - BLOCK // 4]
        index = (index << 1) | int(block.mean() > 127)
    return index


def frames(spec: VideoSpec) -> Iterator[np.ndarray]:
    """All frames of ``spec`` as BGR arrays, indices ``first_index`` onwards."""
    background = _background(spec.height, spec.width)
    for n in range(spec.first_index, spec.first_index + spec.frames):
        yield make_frame(spec, n, background)


def _add_stream(container: av.container.OutputContainer, spec: VideoSpec) -> av.VideoStream:
    stream = container.add_stream("libx264", rate=spec.fps)
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
    stream.time_base = Fraction(1, _timescale(spec.fps))
    stream.options = {"g": str(spec.gop), "keyint_min": str(spec.gop), "sc_threshold": "0",
                      "bf": str(spec.bframes), "preset": spec.preset}
    return stream


def _timescale(fps: int) -> int:
    """Ticks per second: 1000 per frame, at least 10,000 (FFmpeg's MP4 muxer refuses
    coarser track timescales, e.g. 5,000 for a 5 fps clip)."""
    scale = fps * 1000
    while scale < 10_000:
        scale *= 2
    return scale


def encode_file(path: str | Path, spec: VideoSpec, fmt: str | None = None,
                options: dict[str, str] | None = None) -> Path:
    """Encode ``spec`` to ``path`` (container from the suffix, or ``fmt``); returns the path.

    ``options`` go to the muxer, e.g. ``{"movflags": "frag_keyframe+empty_moov+default_base_moof"}``
    for fragmented MP4.
    """
    path = Path(path)
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = _add_stream(container, spec)
        for n, image in enumerate(frames(spec)):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = n * (_timescale(spec.fps) // spec.fps)
            frame.time_base = stream.time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
