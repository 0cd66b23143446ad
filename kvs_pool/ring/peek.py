"""A one-off look at a ring's header: one ``pread`` of its first page, nothing mapped or locked.

Attaching a ring (``RingReader.attach``) maps and prefaults every slot: right for a reader that will
touch them, a waste for a status tool looking at many rings once (``kvs-pool status`` over 200
rings; ``benchmarks/scale.py`` measures it, docs/sizing.md holds the figures). The page is a private
copy taken under no lock; its words are read one by one, as ``read_status`` does on a live mapping.
The checks are ``attach``'s: a regular file of this user with mode 0600 (nobody else's data is shown
as the pool's), then magic, layout version, size and a closed pool.
"""

from __future__ import annotations

import os
import stat

from kvs_pool.errors import RingError, RingNotFoundError, RingUntrustedError
from kvs_pool.ring.header import RingStatus, _check_layout, read_status
from kvs_pool.ring.layout import HEADER_SIZE, segment_name
from kvs_pool.ring.segment import SHM_DIR, untrusted_reason

__all__ = ["peek_status"]


class _HeaderCopy:
    """A private copy of a header page: the ``HeaderView`` the checks and ``read_status`` read."""

    def __init__(self, name: str, page: bytes, size: int) -> None:
        self.name = name
        self.size = size
        self.hdr = memoryview(page).cast("Q")
        self.hdr_f = memoryview(page).cast("d")


def peek_status(pool: str, camera_id: str) -> RingStatus:
    """Snapshot the header of ``camera_id``'s ring in ``pool`` without attaching it."""
    name, what = segment_name(pool, camera_id), f"camera {camera_id!r} of pool {pool!r}"
    path = os.path.join(SHM_DIR, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise RingNotFoundError(f"no ring for {what} ({path}): is the pool running?") from None
    except OSError as exc:  # EACCES: another user's; ELOOP: a symlink
        raise RingUntrustedError(f"ring for {what} ({path}) cannot be read ({exc.strerror}): "
                                 "refusing it (run as the pool's user)") from None
    try:
        st = os.fstat(fd)
        reason = (untrusted_reason(st) if stat.S_ISREG(st.st_mode)   # attach's rule: ours, 0600
                  else "is not a regular file")
        if reason:
            raise RingUntrustedError(f"ring for {what} ({path}) {reason}: refusing it (run as "
                                     "the pool's user)")
        page = os.pread(fd, HEADER_SIZE, 0)
    finally:
        os.close(fd)
    if len(page) < HEADER_SIZE:
        raise RingError(f"{what}: segment {name} is {len(page)} bytes, too small to be a "
                        "kvs-pool ring")
    copy = _HeaderCopy(name, page, st.st_size)
    _check_layout(copy, what)
    return read_status(copy)
