"""Colour-convert a decoded PyAV frame to BGR straight into a caller's buffer (a ring slot).

``frame.to_ndarray(format="bgr24")`` converts into a new frame, copies that into a new array,
and the caller copies the array into its slot: three passes over 2.7 MB per 720p frame, two
fresh allocations whose pages fault on first touch, and a threaded scaler. ``BGRConverter``
calls libswscale's ``sws_scale`` itself (ctypes, the library PyAV ships) with the frame's plane
pointers as source and the slot as destination: one pass, no allocation, one thread. The output
is byte for byte what ``to_ndarray(format="bgr24")`` gives (``tests/sources/test_swscale.py``
checks every case this module accepts); anything else takes that path instead::

    converter = BGRConverter()
    out = converter.convert(frame, into)        # into(h, w, 3) -> uint8 array

Accepted frames (else fallback): pixel format ``yuv420p`` or ``yuvj420p``, even width and
height, colour space unspecified, BT.601 (``bt470bg``/``smpte170m``) or BT.709, colour range
unspecified, MPEG or JPEG. The fallback also covers a buffer of another shape or a library
that cannot be loaded (then every frame takes it).

Calls used (libswscale 5-9, stable ABI; ``AV_PIX_FMT_*`` values are fixed by FFmpeg)::

    SwsContext *sws_getCachedContext(ctx, srcW, srcH, srcFormat, dstW, dstH, dstFormat,
                                     flags, NULL, NULL, NULL)
    int sws_setColorspaceDetails(ctx, const int inv_table[4], srcRange,
                                 const int table[4], dstRange, 0, 1 << 16, 1 << 16)
    const int *sws_getCoefficients(int SWS_CS_*)
    int sws_scale(ctx, const uint8_t *src[4], const int srcStride[4], 0, h,
                  uint8_t *dst[4], const int dstStride[4])
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path

import av
import numpy as np

from kvs_pool.sources.base import BufferFactory

__all__ = ["BGRConverter", "to_bgr"]

log = logging.getLogger(__name__)

_PIX_FMT = {"yuv420p": 0, "yuvj420p": 12}   # AVPixelFormat
_BGR24 = 3
_SWS_BILINEAR = 2                           # PyAV's default interpolation
# AVColorSpace -> SWS_CS_*: unspecified (2) -> default (BT.601); 1 BT.709; 5/6 BT.601
_COEFFICIENTS = {2: 5, 5: 5, 6: 5, 1: 1}
_JPEG_RANGE = 2                             # AVColorRange: 0 unspecified, 1 MPEG, 2 JPEG
_Pointers = ctypes.c_void_p * 4
_Strides = ctypes.c_int * 4


def to_bgr(frame: av.VideoFrame, into: BufferFactory) -> np.ndarray:
    """The slow, general path: PyAV's conversion into a new array, copied into ``into``."""
    image = frame.to_ndarray(format="bgr24")
    buffer = into(image.shape[0], image.shape[1], 3)
    if buffer.shape == image.shape and buffer.dtype == np.uint8:
        np.copyto(buffer, image)
        return buffer
    return image


def _load() -> ctypes.CDLL | None:
    """libswscale: the copy bundled with PyAV's wheel, else the system's; None if neither."""
    bundled = sorted((Path(av.__file__).parent.parent / "av.libs").glob("libswscale*.so*"))
    candidates = [str(p) for p in bundled] + [ctypes.util.find_library("swscale") or ""]
    for path in filter(None, candidates):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.sws_getCachedContext.restype = ctypes.c_void_p
        lib.sws_getCachedContext.argtypes = [ctypes.c_void_p] + [ctypes.c_int] * 7 + [
            ctypes.c_void_p] * 3
        lib.sws_getCoefficients.restype = ctypes.POINTER(ctypes.c_int)
        lib.sws_setColorspaceDetails.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                                 ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                                 *[ctypes.c_int] * 4]
        lib.sws_scale.argtypes = [ctypes.c_void_p, _Pointers, _Strides, ctypes.c_int,
                                  ctypes.c_int, _Pointers, _Strides]
        lib.sws_freeContext.argtypes = [ctypes.c_void_p]
        return lib
    log.warning("libswscale not found: frames are converted by PyAV (slower)")
    return None


class BGRConverter:
    """Converts frames of one stream; keeps one scaler context, rebuilt when the input changes."""

    _lib: ctypes.CDLL | None = None
    _loaded = False

    def __init__(self) -> None:
        if not BGRConverter._loaded:
            BGRConverter._lib, BGRConverter._loaded = _load(), True
        self._context: int | None = None
        self._key: tuple[int, int, int, int, int] | None = None
        self.fast = 0   # frames converted by sws_scale into the buffer
        self.slow = 0   # frames that took ``to_bgr``

    def convert(self, frame: av.VideoFrame, into: BufferFactory) -> np.ndarray:
        """``frame`` as BGR in ``into(h, w, 3)`` (or a new array if the buffer does not fit)."""
        key = self._key_of(frame)
        if key is None:
            self.slow += 1
            return to_bgr(frame, into)
        buffer = into(frame.height, frame.width, 3)
        if buffer.shape != (frame.height, frame.width, 3) or buffer.dtype != np.uint8 \
                or not buffer.flags.c_contiguous:
            self.slow += 1
            return to_bgr(frame, lambda h, w, c: np.empty((h, w, c), np.uint8))
        self._scale(frame, key, buffer)
        self.fast += 1
        return buffer

    def _key_of(self, frame: av.VideoFrame) -> tuple[int, int, int, int, int] | None:
        fmt = _PIX_FMT.get(frame.format.name)
        cs = _COEFFICIENTS.get(int(frame.colorspace))
        w, h = frame.width, frame.height
        if self._lib is None or fmt is None or cs is None or w % 2 or h % 2:
            return None
        full = int(fmt == _PIX_FMT["yuvj420p"] or int(frame.color_range) == _JPEG_RANGE)
        return w, h, fmt, cs, full

    def _scale(self, frame: av.VideoFrame, key: tuple[int, int, int, int, int],
               buffer: np.ndarray) -> None:
        lib = self._lib
        assert lib is not None
        w, h = frame.width, frame.height
        if key != self._key:
            self._setup(key)
        planes = frame.planes
        src = _Pointers(*(p.buffer_ptr for p in planes[:3]), None)
        strides = _Strides(*(p.line_size for p in planes[:3]), 0)
        dst = _Pointers(buffer.ctypes.data, None, None, None)
        done = lib.sws_scale(self._context, src, strides, 0, h, dst, _Strides(3 * w, 0, 0, 0))
        if done != h:
            raise RuntimeError(f"sws_scale converted {done} of {h} rows")

    def _setup(self, key: tuple[int, int, int, int, int]) -> None:
        lib = self._lib
        assert lib is not None
        w, h, fmt, cs, full = key
        context = lib.sws_getCachedContext(self._context, w, h, fmt, w, h, _BGR24,
                                           _SWS_BILINEAR, None, None, None)
        if not context:
            raise RuntimeError(f"libswscale refused {w}x{h} format {fmt} -> bgr24")
        table = lib.sws_getCoefficients(cs)
        lib.sws_setColorspaceDetails(context, table, full, table, 1, 0, 1 << 16, 1 << 16)
        self._context, self._key = context, key

    def close(self) -> None:
        if self._context and self._lib is not None:
            self._lib.sws_freeContext(self._context)
        self._context = self._key = None

    def __del__(self) -> None:
        self.close()
