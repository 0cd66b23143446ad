"""The ring within one process: layout checks, names, seqlock accounting, geometry, ownership."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from blocked import wait_until_blocked
from ringtools import put

from kvs_pool.errors import RingError, RingLayoutError, RingNotFoundError, RingSpaceError
from kvs_pool.ring import (
    ConnectionState,
    FrameOverwrittenError,
    RingGeometry,
    RingReader,
    RingWriter,
    create_ring,
    segment_name,
    sweep_stale,
)
from kvs_pool.ring.layout import LAYOUT_VERSION, HeaderWord

SHM = Path("/dev/shm")
SMALL = RingGeometry(64, 48, 3, 4)


@pytest.fixture
def ring(pool_name):
    """An owner, a writer and a reader on one small ring; all closed/unlinked afterwards."""
    owner = create_ring(pool_name, "cam", SMALL)
    writer = RingWriter.attach(pool_name, "cam")
    reader = RingReader.attach(pool_name, "cam")
    yield owner, writer, reader
    reader.close()
    writer.close()
    owner.unlink()


def test_names_are_derived_and_validated():
    assert segment_name("site1", "front-door") == "kvspool.site1.front-door"
    for pool, cam in (("site 1", "cam"), ("site1", "../etc"), ("", "cam"), ("-x", "cam"),
                      ("site1", "a" * 49), ("site1", "cam.1")):
        with pytest.raises(RingError, match="invalid"):
            segment_name(pool, cam)


def test_geometry_is_validated():
    with pytest.raises(RingError, match="slots"):
        RingGeometry(64, 48, 3, 1)
    with pytest.raises(RingError, match="channels"):
        RingGeometry(64, 48, 5)


def test_frames_are_read_only_views_with_metadata(ring):
    _, writer, reader = ring
    assert reader.latest() is None
    seq = put(writer, 7)
    frame = reader.next(timeout=1.0)
    assert (frame.seq, frame.capture_ts, frame.missed) == (seq, 1007.0, 0)
    assert frame.shape == (48, 64, 3) and (frame.array == 7).all()
    assert frame.decode_ts > 1e9 and frame.commit_mono <= time.monotonic()
    assert not frame.array.flags.writeable
    with pytest.raises(ValueError):
        frame.array[0, 0, 0] = 1
    with pytest.raises(ValueError):
        frame.array.flags.writeable = True


def test_reader_counts_missed_frames_and_detects_overwritten_views(ring):
    _, writer, reader = ring
    put(writer, 1)
    first = reader.next(timeout=0)
    for value in range(2, 12):
        put(writer, value)
    assert not first.is_intact()  # slot reused: 4 slots, 10 frames later
    with pytest.raises(FrameOverwrittenError):
        first.copy()
    frame = reader.next(timeout=0)
    # 4 slots: the oldest safely readable is write_seq - 2 = 9; 2..8 were lost.
    assert (frame.seq, frame.missed) == (9, 7)
    assert [reader.next(timeout=0).seq for _ in range(2)] == [10, 11]
    assert reader.missed == 7
    assert reader.next(timeout=0) is None


def test_copy_keeps_a_frame_after_its_slot_is_reused(ring):
    _, writer, reader = ring
    put(writer, 5)
    kept = reader.next(timeout=0).copy()
    for value in range(6, 12):
        put(writer, value)
    assert kept.is_intact() and (kept.array == 5).all() and kept.array.flags.writeable


def test_newest_skips_the_backlog(ring):
    _, writer, reader = ring
    put(writer, 1)
    reader.next(timeout=0)
    for value in range(2, 5):
        put(writer, value)
    frame = reader.next(timeout=0, newest=True)
    assert (frame.seq, frame.missed) == (4, 2)
    assert reader.latest().seq == 4


def test_next_times_out_without_spinning(ring):
    _, _, reader = ring
    wall, cpu = time.monotonic(), time.process_time()
    assert reader.next(timeout=0.6) is None
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert wall >= 0.6
    assert cpu < wall / 2, f"waiting used {cpu:.3f}s CPU in {wall:.3f}s"


def test_waiting_reader_wakes_on_commit(ring):
    _, writer, reader = ring
    got = []
    waiter = threading.Thread(target=lambda: got.append(reader.next(timeout=60)), name="reader")
    waiter.start()
    try:
        wait_until_blocked(waiter, reader)  # parked in FUTEX_WAIT, as the kernel reports
    finally:
        put(writer, 3)  # (also releases the reader when the probe failed)
        waiter.join(timeout=60)
    assert not waiter.is_alive(), "the commit did not wake the reader"
    assert got[0] is not None and (got[0].seq, int(got[0].array[0, 0, 0])) == (1, 3)


def test_geometry_change_bumps_generation(ring):
    owner, writer, reader = ring
    put(writer, 1)
    g1 = reader.next(timeout=0).generation
    put(writer, 2, shape=(20, 30, 3))
    frame = reader.next(timeout=0)
    assert frame.shape == (20, 30, 3) and frame.generation == g1 + 1
    status = owner.status()
    assert (status.width, status.height, status.generation) == (30, 20, g1 + 1)


def test_frame_larger_than_capacity_is_a_clear_error(ring):
    _, writer, _ = ring
    with pytest.raises(RingError, match=r"camera 'cam'.*1920x1080x3.*64x48x3"):
        writer.loan(1080, 1920, 3)
    assert writer.fits(48, 64) and not writer.fits(1080, 1920)


def test_commit_without_loan_is_an_error(ring):
    _, writer, _ = ring
    with pytest.raises(RingError, match="without a loan"):
        writer.commit(0.0)


def test_writer_restart_continues_the_sequence(pool_name):
    with create_ring(pool_name, "cam", SMALL):
        first = RingWriter.attach(pool_name, "cam")
        for value in range(3):
            put(first, value)
        first.close()
        second = RingWriter.attach(pool_name, "cam")
        assert put(second, 9) == 4
        second.close()


def test_second_live_writer_is_refused(ring, pool_name):
    import subprocess
    import sys
    code = ("import sys; from kvs_pool.ring import RingWriter\n"
            "try:\n    RingWriter.attach(sys.argv[1], 'cam')\n"
            "except Exception as e:\n    print(e); sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code, pool_name], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3 and "already has a live writer" in done.stdout


def test_status_reports_counters_state_and_clocks(ring):
    owner, writer, reader = ring
    writer.add(frames=3, reconnects=1, url_refreshes=2, read_errors=4, skipped=5)
    writer.add(frames=1)
    writer.set_state(ConnectionState.CONNECTED)
    writer.heartbeat()
    for value in range(3):
        put(writer, value)
    status = reader.status()
    assert (status.frames, status.reconnects, status.url_refreshes, status.read_errors,
            status.skipped) == (4, 1, 2, 4, 5)
    assert status.state == 2 and status.write_seq == 3
    assert status.producer_pid == os.getpid() and status.producer_alive
    assert status.owner_pid == os.getpid() and status.pool_open
    assert 0 <= status.heartbeat_age < 5 and 0 <= status.last_frame_age < 5
    assert status.last_frame_wall == 1002.0 and status.fps > 0
    assert (status.max_width, status.max_height, status.slots) == (64, 48, 4)
    with pytest.raises(ValueError):
        writer.set_state(9)
    assert owner.status().write_seq == 3


def test_missing_ring_is_not_found(pool_name):
    with pytest.raises(RingNotFoundError, match=f"camera 'nope' of pool '{pool_name}'"):
        RingReader.attach(pool_name, "nope")


def test_other_layout_version_is_refused(pool_name):
    with create_ring(pool_name, "cam", SMALL) as owner:
        with open(SHM / owner.name, "r+b") as raw:
            raw.seek(HeaderWord.VERSION * 8)
            raw.write((LAYOUT_VERSION + 1).to_bytes(8, "little"))
        with pytest.raises(RingLayoutError, match=f"layout version {LAYOUT_VERSION + 1}"):
            RingReader.attach(pool_name, "cam")


def test_foreign_segment_is_refused(pool_name):
    path = SHM / f"kvspool.{pool_name}.cam"
    path.write_bytes(b"not a ring" * 1000)
    path.chmod(0o600)  # ours and private: refused for its content (see test_hostile_shm.py)
    try:
        with pytest.raises(RingLayoutError, match="not a kvs-pool ring"):
            RingReader.attach(pool_name, "cam")
    finally:
        path.unlink()


def test_pool_stop_wakes_and_fails_a_waiting_reader(pool_name):
    owner = create_ring(pool_name, "cam", SMALL)
    reader = RingReader.attach(pool_name, "cam")
    errors = []

    def wait() -> None:
        try:
            reader.next(timeout=60)
        except RingError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait, name="reader")
    waiter.start()
    try:
        wait_until_blocked(waiter, reader)
    finally:
        owner.unlink()
        waiter.join(timeout=60)
    assert not waiter.is_alive(), "stopping the pool did not wake the reader"
    assert errors and "has stopped" in str(errors[0])
    assert not (SHM / owner.name).exists()
    with pytest.raises(RingNotFoundError):
        RingReader.attach(pool_name, "cam")
    reader.close()


def test_no_room_in_dev_shm_is_a_plain_error(pool_name):
    huge = RingGeometry(16384, 16384, 4, 1024)  # ~1 TB
    with pytest.raises(RingSpaceError, match=r"/dev/shm has .* MB free but ring .* needs"):
        create_ring(pool_name, "cam", huge)
    assert not list(SHM.glob(f"kvspool.{pool_name}.*"))


def test_restarted_owner_adopts_a_ring_of_the_same_geometry(pool_name):
    owner = create_ring(pool_name, "cam", SMALL)
    writer = RingWriter.attach(pool_name, "cam")
    put(writer, 1)
    again = create_ring(pool_name, "cam", SMALL)  # same pid: adopted, not replaced
    assert again.status().write_seq == 1
    writer.close()
    again.unlink()
    owner.unlink()  # idempotent on an already removed name
    assert not list(SHM.glob(f"kvspool.{pool_name}.*"))


def test_sweep_keeps_rings_that_are_held(pool_name):
    with create_ring(pool_name, "cam", SMALL) as owner:
        assert sweep_stale(pool_name) == []
        assert (SHM / owner.name).exists()


def test_held_frames_keep_the_mapping_alive_after_close(pool_name):
    with create_ring(pool_name, "cam", SMALL):
        writer = RingWriter.attach(pool_name, "cam")
        put(writer, 42)
        reader = RingReader.attach(pool_name, "cam")
        frame = reader.next(timeout=0)
        reader.close()
        writer.close()
        assert int(np.asarray(frame.array).sum()) == 42 * 48 * 64 * 3  # no segfault
        assert frame.is_intact()


def test_full_dev_shm_at_allocation_is_a_plain_error_and_leaves_nothing(pool_name, monkeypatch):
    import errno

    def no_room(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_room)  # tmpfs full after the free-space check
    with pytest.raises(RingSpaceError, match=r"has not room for ring .*MB"):
        create_ring(pool_name, "cam", SMALL)
    assert not list(SHM.glob(f"kvspool.{pool_name}.*"))


def test_reader_fed_by_an_orphaned_writer_learns_its_ring_was_replaced(pool_name):
    from kvs_pool.ring.segment import unlink_segment
    old = create_ring(pool_name, "cam", SMALL)
    writer = RingWriter.attach(pool_name, "cam")
    reader = RingReader.attach(pool_name, "cam")
    unlink_segment(old.name)  # what a restarted owner does to a ring of another geometry
    new = create_ring(pool_name, "cam", RingGeometry(32, 24, 3, 4))
    stop = threading.Event()

    def feed() -> None:  # the old decoder keeps writing into the orphaned mapping
        while not stop.is_set():
            put(writer, 1)
            stop.wait(0.01)  # the pace of a 100 fps camera, not a synchronisation

    orphaned: list[RingError] = []

    def feed_until_orphaned() -> None:
        try:
            feed()
        except RingError as exc:  # the writer notices too, within a second
            orphaned.append(exc)

    feeder = threading.Thread(target=feed_until_orphaned)
    feeder.start()
    try:
        with pytest.raises(RingError, match="was removed"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                reader.next(timeout=1.0)
        feeder.join(timeout=10)
        assert orphaned and "orphaned" in str(orphaned[0])
    finally:
        stop.set()
        feeder.join()
        reader.close()
        writer.close()
        new.unlink()
        old.unlink()
    assert not list(SHM.glob(f"kvspool.{pool_name}.*"))


@pytest.mark.parametrize("word, value", [(HeaderWord.SLOT_COUNT, 10 ** 6), (HeaderWord.SLOT_COUNT, 0),
                                         (HeaderWord.PIXEL_OFFSET, 10 ** 9), (HeaderWord.SLOT_SIZE, 8)])
def test_corrupt_geometry_in_the_header_is_a_layout_error(pool_name, word, value):
    owner = create_ring(pool_name, "cam", SMALL)
    try:
        owner._m.hdr[word] = value  # noqa: SLF001 - what a stray write of the owner's user does
        with pytest.raises(RingLayoutError, match="corrupt header"):
            RingReader.attach(pool_name, "cam")
    finally:
        owner.unlink()
