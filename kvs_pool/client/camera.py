"""A camera handle for consumers: attach by name, iterate frames, survive decoder restarts.

A thin layer over ``RingReader``: it resolves the pool name (argument or ``KVS_POOL_NAME``),
can wait for a pool that is still starting, and turns "no frame within the timeout" into the
end of an iteration. A decoder restart needs nothing from the consumer: the ring stays, the
restarted decoder continues the sequence, and ``frames()`` simply resumes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

from kvs_pool.errors import RingError, RingNotFoundError
from kvs_pool.ring import Frame, RingReader, RingStatus

__all__ = ["Camera", "attach", "POOL_ENV"]

log = logging.getLogger(__name__)

POOL_ENV = "KVS_POOL_NAME"
_ATTACH_POLL_S = 0.1


def attach(camera_id: str, pool: str | None = None, timeout: float = 0.0) -> Camera:
    """Attach to ``camera_id`` of ``pool`` (default: ``$KVS_POOL_NAME``).

    ``timeout`` > 0 waits that long for the ring to appear (pool still starting) before
    raising ``RingNotFoundError``.
    """
    pool = pool or os.environ.get(POOL_ENV)
    if not pool:
        raise RingError(f"no pool name for camera {camera_id!r}: pass pool=... or set "
                        f"{POOL_ENV}")
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        try:
            return Camera(RingReader.attach(pool, camera_id))
        except RingNotFoundError:
            if time.monotonic() + _ATTACH_POLL_S > deadline:
                raise
            time.sleep(_ATTACH_POLL_S)


class Camera:
    """One attached camera. Use as a context manager; ``close()`` never removes the ring."""

    def __init__(self, reader: RingReader) -> None:
        self.reader = reader
        self.camera_id = reader.camera_id
        self.pool = reader.pool

    @property
    def missed(self) -> int:
        """Frames lost so far because this consumer fell behind (total over its life)."""
        return self.reader.missed

    def frames(self, timeout: float | None = None, latest: bool = False) -> Iterator[Frame]:
        """Yield frames as they come; stop when none arrives within ``timeout`` s.

        ``latest=False`` yields every frame in order (``frame.missed`` counts any lost when
        lapped); ``latest=True`` always jumps to the newest frame, so a slow consumer never
        builds a backlog (what inference workers use). ``timeout=None`` waits forever.
        Raises ``RingError`` when the pool stops.
        """
        while True:
            frame = self.reader.next(timeout, newest=latest)
            if frame is None:
                return
            yield frame

    def read(self, timeout: float | None = None, latest: bool = False) -> Frame | None:
        """The next frame (or newest with ``latest=True``), None after ``timeout`` s."""
        return self.reader.next(timeout, newest=latest)

    def latest(self) -> Frame | None:
        """The newest frame now, without waiting (None if the ring has none yet)."""
        return self.reader.latest()

    def status(self) -> RingStatus:
        """Snapshot of the ring header: decoder pid, fps, counters, state, geometry."""
        return self.reader.status()

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Camera({self.camera_id!r}, pool={self.pool!r}, missed={self.missed})"
