"""``peek_status``: a ring header read with one pread, without attaching the ring."""

from __future__ import annotations

import dataclasses
import os

import pytest

from kvs_pool.errors import RingError, RingLayoutError, RingNotFoundError
from kvs_pool.ring import RingGeometry, RingWriter, create_ring, peek_status, segment_name

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


def test_peek_names_a_missing_foreign_or_untrusted_segment(pool_name: str) -> None:
    with pytest.raises(RingNotFoundError, match="cam"):
        peek_status(pool_name, "cam")
    path = f"/dev/shm/{segment_name(pool_name, 'junk')}"
    _write(path, b"\x01" * 8192)
    try:
        with pytest.raises(RingLayoutError, match="not a kvs-pool ring"):
            peek_status(pool_name, "junk")
        os.chmod(path, 0o644)  # readable by others: not one of ours, whatever it holds
        with pytest.raises(RingError, match="0600"):
            peek_status(pool_name, "junk")
    finally:
        os.unlink(path)
    os.symlink("/etc/hostname", path)
    try:
        with pytest.raises(RingError, match="refusing"):
            peek_status(pool_name, "junk")
    finally:
        os.unlink(path)


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def test_peek_says_the_pool_stopped(pool_name: str) -> None:
    """The header an owner leaves at stop (marked closed), found under the ring's name."""
    owner = create_ring(pool_name, "cam", SMALL)
    path = f"/dev/shm/{segment_name(pool_name, 'cam')}"
    fd = os.open(path, os.O_RDONLY)  # the segment outlives its name while we hold it
    try:
        owner.unlink()
        closed = os.pread(fd, 4096, 0)
        _write(path, closed + b"\0" * (os.fstat(fd).st_size - 4096))
        with pytest.raises(RingError, match="stopped"):
            peek_status(pool_name, "cam")
    finally:
        os.close(fd)
        if os.path.exists(path):
            os.unlink(path)
