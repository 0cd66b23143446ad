"""Which instance of a sharded pool reads each camera on this host, from /dev/shm.

Instances run as ``<pool>-<tag>``, so their rings are ``kvspool.<pool>-<tag>.<camera>``. A
ring counts as read while its decoder commits frames; a killed instance's rings stay in
/dev/shm (stale) until its next start sweeps them, so freshness is judged by the ring's
last-frame clock. Used by the tests and ``benchmarks/shard.py``.
"""

from __future__ import annotations

from pathlib import Path

from kvs_pool.errors import RingError
from kvs_pool.ring import RingReader, RingStatus

__all__ = ["instance_rings", "ring_status", "readers"]

SHM = Path("/dev/shm")


def instance_rings(pool: str) -> dict[str, set[str]]:
    """Instance pool name -> camera ids, from the segments present (fresh or stale)."""
    found: dict[str, set[str]] = {}
    for seg in SHM.glob(f"kvspool.{pool}-*"):
        _, instance, camera = seg.name.split(".", 2)
        found.setdefault(instance, set()).add(camera)
    return found


def ring_status(instance: str, camera: str) -> RingStatus | None:
    """The ring's header, or None if it is gone (unlinked meanwhile)."""
    try:
        reader = RingReader.attach(instance, camera)
    except RingError:
        return None
    try:
        return reader.status()
    finally:
        reader.close()


def readers(pool: str, fresh_s: float = 3.0) -> dict[str, set[str]]:
    """camera id -> instances whose ring of it got a frame in the last ``fresh_s`` seconds."""
    out: dict[str, set[str]] = {}
    for instance, cameras in instance_rings(pool).items():
        for camera in cameras:
            status = ring_status(instance, camera)
            if status is not None and status.last_frame_age < fresh_s:
                out.setdefault(camera, set()).add(instance)
    return out
