"""Frame sources: open a stream and decode BGR frames into a buffer the caller lends.

``URLFrameSource`` (file, RTSP, HTTP(S) HLS through OpenCV/PyAV) and ``KVSHLSFrameSource``
(Kinesis Video Streams over HLS) both follow ``FrameSource`` in ``kvs_pool.sources.base``.
The concrete sources are imported lazily so that importing the protocol does not load cv2/av.
"""

from __future__ import annotations

from typing import Any

from kvs_pool.sources.base import (
    BufferFactory,
    FrameSource,
    ProgressHook,
    SourceControl,
    SourceState,
    SourceStats,
    allocate,
    frame_timeout,
)

__all__ = [
    "BufferFactory", "FrameSource", "ProgressHook", "SourceControl", "SourceState",
    "SourceStats", "allocate", "frame_timeout", "URLFrameSource", "URLSourceOptions",
    "KVSHLSFrameSource", "KVSSourceOptions",
]

_LAZY = {"URLFrameSource": "kvs_pool.sources.url", "URLSourceOptions": "kvs_pool.sources.url",
         "KVSHLSFrameSource": "kvs_pool.sources.kvs_hls",
         "KVSSourceOptions": "kvs_pool.sources.kvs_hls"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kvs_pool.sources' has no attribute {name!r}")
