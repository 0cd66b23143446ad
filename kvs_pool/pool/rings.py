"""The rings the supervisor owns: one per camera, created before its decoder starts, kept
across decoder restarts (consumers carry on), unlinked when the camera goes or the pool stops.

The metrics thread reads statuses while the main loop may unlink a ring, so every access to an
owner goes through one lock (a status read of an unmapped header would fault).
"""

from __future__ import annotations

import logging
import threading

from kvs_pool.config import CameraConfig
from kvs_pool.errors import RingError
from kvs_pool.ring import RingGeometry, RingOwner, RingStatus, create_ring

__all__ = ["RingSet", "geometry_for"]

log = logging.getLogger(__name__)


def geometry_for(camera: CameraConfig) -> RingGeometry:
    """The ring capacity a camera's config asks for."""
    width, height = camera.max_resolution
    return RingGeometry(max_width=width, max_height=height, channels=3, slots=camera.ring_slots)


class RingSet:
    """The supervisor's ring owners, by camera id."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self._owners: dict[str, tuple[RingOwner, RingGeometry]] = {}
        self._lock = threading.Lock()

    def ensure(self, camera: CameraConfig) -> None:
        """Create the camera's ring, or recreate it if its geometry changed."""
        geometry = geometry_for(camera)
        with self._lock:
            current = self._owners.get(camera.id)
            if current is not None and current[1] == geometry:
                return
            if current is not None:
                current[0].unlink()
            self._owners[camera.id] = (create_ring(self.pool, camera.id, geometry), geometry)

    def drop(self, camera_id: str) -> None:
        """Unlink the ring of a camera removed from the config (no-op if it has none)."""
        with self._lock:
            current = self._owners.pop(camera_id, None)
            if current is not None:
                current[0].unlink(removed=True)

    def status(self, camera_id: str) -> RingStatus | None:
        """A header snapshot, or None if the camera has no ring."""
        with self._lock:
            current = self._owners.get(camera_id)
            if current is None:
                return None
            try:
                return current[0].status()
            except RingError:
                return None

    def unlink_all(self) -> None:
        """Unlink every ring (pool stop)."""
        with self._lock:
            owners, self._owners = self._owners, {}
        for owner, _ in owners.values():
            try:
                owner.unlink()
            except (RingError, OSError) as exc:
                log.error("could not unlink ring %s: %s", owner.name, exc)
