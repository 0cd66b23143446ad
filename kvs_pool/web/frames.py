"""JPEG images of each camera's newest frame, encoded off the supervisor's loop and shared.

Cost bound: for each camera and requested width, at most one encode runs per new ring frame,
whatever the number of viewers (thumbnails, ``latest.jpg``, every MJPEG client). The first
caller that finds the cached image older than the ring's newest frame submits the encode to a
small thread pool and every other caller waits on the same future. ``cv2.resize`` and
``cv2.imencode`` release the GIL, so encodes do not hold up the supervisor's main loop (a
thread of the same process) for longer than the Python glue around them.

A frame is resized and encoded straight from its zero-copy ring view; if the writer lapped the
slot meanwhile (``Frame.is_intact()`` is false) the result is discarded and the newest frame is
encoded instead.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from kvs_pool.errors import RingError
from kvs_pool.ring import RingReader

__all__ = ["Jpeg", "FrameEncoder", "NoFrame"]

log = logging.getLogger(__name__)

_QUALITY = 80
_WIDTHS_KEPT = 4          # cached widths per camera (thumbnail, live view, full size, one more)
_RETRIES = 3              # lapped while encoding: try the newest frame again


class NoFrame(Exception):
    """The camera has no ring or no frame yet."""


@dataclass(frozen=True)
class Jpeg:
    """One encoded frame: ring sequence, capture time (Unix s) and the JPEG bytes."""

    seq: int
    capture_ts: float
    width: int
    height: int
    data: bytes


class _Camera:
    """One camera's reader and its cache: width -> future of the newest encoded frame."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reader: RingReader | None = None
        self.cache: OrderedDict[int, tuple[int, Future[Jpeg]]] = OrderedDict()
        self.encodes = 0


class FrameEncoder:
    """Shared, lazily attached JPEG encoding of the newest frame of each camera of a pool."""

    def __init__(self, pool: str, threads: int = 2) -> None:
        self.pool = pool
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jpeg")
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()

    def encodes(self, camera_id: str) -> int:
        """How many encodes this camera has cost so far (for tests and benchmarks)."""
        cam = self._cameras.get(camera_id)
        return cam.encodes if cam else 0

    def latest(self, camera_id: str, width: int | None = None, timeout: float = 10.0) -> Jpeg:
        """The newest frame as JPEG, ``width`` pixels wide (None: as decoded).

        Raises ``NoFrame`` when the camera has no ring or no frame yet."""
        cam = self._camera(camera_id)
        with cam.lock:
            seq = self._newest_seq(cam, camera_id)
            key = width or 0
            cached = cam.cache.get(key)
            if cached is None or cached[0] < seq:
                future: Future[Jpeg] = self._executor.submit(self._encode, cam, camera_id, width)
                cam.cache[key] = (seq, future)
                cam.encodes += 1
                while len(cam.cache) > _WIDTHS_KEPT:
                    cam.cache.popitem(last=False)
            else:
                future = cached[1]
                cam.cache.move_to_end(key)
        return future.result(timeout)

    def newest_seq(self, camera_id: str) -> int:
        """The ring's newest sequence number (0: none yet); raises ``NoFrame`` without a ring."""
        cam = self._camera(camera_id)
        with cam.lock:
            return self._newest_seq(cam, camera_id)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            cameras, self._cameras = self._cameras, {}
        for cam in cameras.values():
            with cam.lock:
                self._drop_reader(cam)

    def retain(self, camera_ids: Iterable[str]) -> None:
        """Let go of the readers (and mappings) of cameras no longer in the pool."""
        keep = set(camera_ids)
        with self._lock:
            gone = [self._cameras.pop(c) for c in list(self._cameras) if c not in keep]
        for cam in gone:
            with cam.lock:
                self._drop_reader(cam)

    # -- inside ---------------------------------------------------------------------------------
    def _camera(self, camera_id: str) -> _Camera:
        with self._lock:
            return self._cameras.setdefault(camera_id, _Camera())

    def _newest_seq(self, cam: _Camera, camera_id: str) -> int:
        """Attach if needed (cam.lock held). A ring its owner closed (pool stopping, camera
        removed or re-created by a reload) is let go and the current one attached instead."""
        for _ in range(2):
            try:
                if cam.reader is None:
                    cam.reader = RingReader.attach(self.pool, camera_id)
                status = cam.reader.status()
            except RingError as exc:
                self._drop_reader(cam)
                raise NoFrame(f"camera {camera_id!r}: {exc}") from None
            if status.pool_open:
                return int(status.write_seq)
            self._drop_reader(cam)
        raise NoFrame(f"camera {camera_id!r}: its ring is closed (the pool is stopping)")

    @staticmethod
    def _drop_reader(cam: _Camera) -> None:
        if cam.reader is not None:
            cam.reader.close()
        cam.reader, cam.cache = None, OrderedDict()

    def _encode(self, cam: _Camera, camera_id: str, width: int | None) -> Jpeg:
        for _ in range(_RETRIES):
            with cam.lock:
                try:
                    frame = cam.reader.latest() if cam.reader is not None else None
                except RingError as exc:
                    raise NoFrame(f"camera {camera_id!r}: {exc}") from None
            if frame is None:
                raise NoFrame(f"camera {camera_id!r}: no frame yet")
            image = _scaled(frame.array, width)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _QUALITY])
            if ok and frame.is_intact():
                return Jpeg(frame.seq, frame.capture_ts, image.shape[1], image.shape[0],
                            data.tobytes())
        raise NoFrame(f"camera {camera_id!r}: frames overwritten while encoding")


def _scaled(array: np.ndarray, width: int | None) -> np.ndarray:
    """The frame resized to ``width`` (keeping its aspect), never enlarged; grey to 3 channels
    is left to the encoder (it accepts 1 or 3)."""
    h, w = array.shape[:2]
    if not width or width >= w:
        return array
    height = max(1, round(h * width / w))
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA)
