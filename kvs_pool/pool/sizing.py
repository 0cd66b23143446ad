"""How much /dev/shm an instance needs: the sum of its cameras' ring sizes.

What a Kubernetes ``emptyDir`` (``medium: Memory``) ``sizeLimit`` or a container's shm size
must allow for one instance; ``kvs-pool plan`` prints it per shard.
"""

from __future__ import annotations

from collections.abc import Iterable

from kvs_pool.config import CameraConfig
from kvs_pool.pool.rings import geometry_for

__all__ = ["shm_bytes"]


def shm_bytes(cameras: Iterable[CameraConfig]) -> int:
    """Bytes of /dev/shm the rings of ``cameras`` take (each ring is created at full size)."""
    return sum(geometry_for(camera).total_size for camera in cameras)
