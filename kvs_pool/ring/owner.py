"""The ring's owner (the supervisor): create a camera's ring, and close + unlink it at the end.

Only the owner creates and unlinks. ``create_ring`` on a name that already exists:

* held by a live owner of the same pool -> ``RingError`` (the pool is already running);
* not a regular file of our uid with mode 0600 -> never adopted (whoever owns it could read,
  alter or truncate every frame): removed when we may, else ``RingError`` naming the file and
  its owner (/dev/shm is sticky: only the file's owner or root can remove it);
* left by a dead owner with the same geometry and layout -> adopted as is, so decoders and
  consumers still attached to it carry on across a supervisor restart;
* otherwise (other geometry, other layout, garbage) -> unlinked and created afresh; readers of
  the old one see it unlinked and report the pool stopped.
"""

from __future__ import annotations

import logging
import os

from kvs_pool.errors import RingError
from kvs_pool.ring.futex import futex_wake
from kvs_pool.ring.header import RingStatus, attach_mapping, pid_alive, read_status
from kvs_pool.ring.layout import (
    HEADER_SIZE,
    LAYOUT_VERSION,
    MAGIC,
    PIXEL_OFFSET,
    HeaderWord,
    PoolState,
    RingGeometry,
    segment_name,
)
from kvs_pool.ring.segment import (
    Mapping,
    create_segment,
    foreign_reason,
    remove_foreign,
    segment_exists,
    unlink_segment,
)

__all__ = ["RingOwner", "create_ring"]

log = logging.getLogger(__name__)


class RingOwner:
    """The creator's handle: the only object that may unlink the ring."""

    def __init__(self, mapping: Mapping, pool: str, camera_id: str) -> None:
        self._m: Mapping | None = mapping
        self.name = mapping.name
        self.pool = pool
        self.camera_id = camera_id

    def status(self) -> RingStatus:
        if self._m is None:
            raise RingError(f"ring {self.name} was unlinked")
        truncated = self._m.truncated()
        if truncated:
            raise RingError(f"ring {self.name} was {truncated}")
        return read_status(self._m)

    def unlink(self, removed: bool = False) -> None:
        """Mark the ring closed (``removed``: the camera left the config, the pool runs on),
        wake every reader, remove the name and unmap. Idempotent."""
        m, self._m = self._m, None
        if m is None:
            return
        truncated = m.truncated()
        if truncated:  # its header is gone: touching it would be a SIGBUS
            log.warning("ring %s was %s: readers learn it themselves", self.name, truncated)
        else:
            m.hdr[HeaderWord.POOL_STATE] = PoolState.REMOVED if removed else PoolState.CLOSED
            m.futex[0] = (int(m.futex[0]) + 1) & 0xFFFFFFFF
            futex_wake(m.futex_address)
        if not m.unlinked():  # never remove a newer segment that reuses our name
            unlink_segment(self.name)
        m.close()
        log.info("ring %s unlinked", self.name)

    def __enter__(self) -> RingOwner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlink()

    def __repr__(self) -> str:
        return f"RingOwner({self.name!r}, open={self._m is not None})"


def create_ring(pool: str, camera_id: str, geometry: RingGeometry) -> RingOwner:
    """Create (or adopt, see module doc) the ring of ``camera_id`` in ``pool``."""
    name = segment_name(pool, camera_id)
    what = f"camera {camera_id!r} of pool {pool!r}"
    if segment_exists(name):
        adopted = _adopt_or_remove(name, what, geometry)
        if adopted is not None:
            return RingOwner(adopted, pool, camera_id)
    shm = create_segment(name, geometry.total_size)
    m = Mapping(shm, readonly=False)
    _write_header(m, geometry)
    m.map_slots(geometry.slots, geometry.slot_size, PIXEL_OFFSET)
    log.info("ring %s created: %d slots of %dx%dx%d (%.1f MB)", name, geometry.slots,
             geometry.max_width, geometry.max_height, geometry.channels, geometry.total_size / 1e6)
    return RingOwner(m, pool, camera_id)


def _write_header(m: Mapping, g: RingGeometry) -> None:
    u = m.hdr
    for index, value in ((HeaderWord.VERSION, LAYOUT_VERSION), (HeaderWord.HEADER_SIZE, HEADER_SIZE),
                         (HeaderWord.SLOT_COUNT, g.slots), (HeaderWord.SLOT_SIZE, g.slot_size),
                         (HeaderWord.PIXEL_OFFSET, PIXEL_OFFSET), (HeaderWord.MAX_WIDTH, g.max_width),
                         (HeaderWord.MAX_HEIGHT, g.max_height), (HeaderWord.MAX_CHANNELS, g.channels),
                         (HeaderWord.DTYPE, 0), (HeaderWord.TOTAL_SIZE, g.total_size),
                         (HeaderWord.OWNER_PID, os.getpid()),
                         (HeaderWord.POOL_STATE, PoolState.OPEN)):
        u[index] = value
    u[HeaderWord.MAGIC] = MAGIC  # last: attachers wait for it


def _adopt_or_remove(name: str, what: str, g: RingGeometry) -> Mapping | None:
    foreign = foreign_reason(name)
    if foreign:  # never adopt: its owner could read, alter or truncate every frame
        remove_foreign(name, f"it {foreign}")
        return None
    try:
        m = attach_mapping(name, what, readonly=False)
    except RingError as exc:
        log.warning("replacing unusable ring segment %s: %s", name, exc)
        remove_foreign(name, "unusable")
        return None
    owner = int(m.hdr[HeaderWord.OWNER_PID])
    if owner != os.getpid() and pid_alive(owner):
        m.close()
        raise RingError(f"{what}: ring {name} is owned by live process {owner}: is this pool "
                        "already running? Pool names must be unique per host")
    same = (int(m.hdr[HeaderWord.MAX_WIDTH]), int(m.hdr[HeaderWord.MAX_HEIGHT]),
            int(m.hdr[HeaderWord.MAX_CHANNELS]),
            int(m.hdr[HeaderWord.SLOT_COUNT])) == (g.max_width, g.max_height, g.channels, g.slots)
    if not same:
        log.warning("replacing ring %s of another geometry left by dead owner %d", name, owner)
        m.close()
        unlink_segment(name)
        return None
    m.hdr[HeaderWord.OWNER_PID] = os.getpid()
    log.info("adopted ring %s left by dead owner %d (write_seq %d)", name, owner,
             int(m.hdr[HeaderWord.WRITE_SEQ]))
    return m
