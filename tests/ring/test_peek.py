"""``peek_status``: a ring header read with one pread, without attaching the ring."""

from __future__ import annotations

import dataclasses
import os

import pytest

from kvs_pool.errors import RingError, RingLayoutError, RingNotFoundError
from kvs_pool.ring import RingGeometry, RingWriter, create_ring, peek_status, segment_name
from kvs_pool.ring.layout import H, PoolState

SMALL = RingGeometry(64, 48, 3, 4)


def test_peek_matches_the_owners_snapshot(pool_name: str) -> None:
    with create_ring(pool_name, "cam", SMALL) as owner:
        writer = RingWriter.attach(pool_name, "cam")
        try:
            writer.loan(48, 64)[:] = 7
            writer.commit(capture_ts=1234.5)
            writer.add(frames=1, reconnects=2)
            writer.heartbeat()
            peeked, owned = peek_status(pool_name, "cam"), owner.status()
        finally:
            writer.close()
    assert peeked.write_seq == 1 and peeked.reconnects == 2
    assert peeked.last_frame_wall == 1234.5 and peeked.producer_pid == os.getpid()
    assert dataclasses.asdict(peeked) == dataclasses.asdict(owned)


def test_peek_names_what_is_missing_closed_or_foreign(pool_name: str) -> None:
    with pytest.raises(RingNotFoundError, match="cam"):
        peek_status(pool_name, "cam")
    path = f"/dev/shm/{segment_name(pool_name, 'junk')}"
    with open(path, "wb") as fh:
        fh.write(b"\0" * 8192)
    try:
        with pytest.raises(RingLayoutError, match="not a kvs-pool ring"):
            peek_status(pool_name, "junk")
    finally:
        os.unlink(path)
    owner = create_ring(pool_name, "cam", SMALL)
    writer = RingWriter.attach(pool_name, "cam")  # keeps the segment's name busy after unlink
    try:
        name = f"/dev/shm/{segment_name(pool_name, 'cam')}"
        with open(name, "rb") as fh:
            page = fh.read(4096)
        owner.unlink()
        with open(name, "wb") as fh:  # the closed header of a stopped pool, same name
            fh.write(page[:H.POOL_STATE * 8] + int(PoolState.CLOSED).to_bytes(8, "little")
                     + page[(H.POOL_STATE + 1) * 8:])
        with pytest.raises(RingError, match="stopped"):
            peek_status(pool_name, "cam")
    finally:
        writer.close()
        if os.path.exists(name):
            os.unlink(name)
