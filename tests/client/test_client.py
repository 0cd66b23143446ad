"""The consumer client: attach by name, iterate, clear errors, survive a decoder restart."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import pytest

from kvs_pool import client
from kvs_pool.client import RingError, RingLayoutError, RingNotFoundError
from kvs_pool.ring import RingGeometry, RingWriter, create_ring
from kvs_pool.ring.layout import HeaderWord

sys.path.insert(0, str(Path(__file__).parents[1] / "ring"))
from actor_procs import Actor, actors  # noqa: E402
from polling import wait_for
from ring_actors import stamped_seq  # noqa: E402
from ringtools import put

SMALL = RingGeometry(64, 48, 3, 4)


def test_pool_name_comes_from_the_environment(pool_name, monkeypatch):
    with create_ring(pool_name, "cam", SMALL):
        monkeypatch.setenv(client.camera.POOL_ENV, pool_name)
        with client.attach("cam") as cam:
            assert cam.pool == pool_name and cam.camera_id == "cam"
        monkeypatch.delenv(client.camera.POOL_ENV)
        with pytest.raises(RingError, match="KVS_POOL_NAME"):
            client.attach("cam")


def test_missing_camera_is_not_found_naming_it(pool_name):
    with pytest.raises(RingNotFoundError, match=f"camera 'ghost' of pool '{pool_name}'"):
        client.attach("ghost", pool=pool_name)


def test_attach_waits_for_a_pool_that_is_starting(pool_name):
    owners = []
    starter = threading.Timer(0.3, lambda: owners.append(create_ring(pool_name, "cam", SMALL)))
    starter.start()
    try:
        with client.attach("cam", pool=pool_name, timeout=10.0) as cam:
            assert cam.status().pool_open
    finally:
        starter.join()
        for owner in owners:
            owner.unlink()


def test_ring_of_another_layout_version_is_refused(pool_name):
    with create_ring(pool_name, "cam", SMALL) as owner:
        with open(Path("/dev/shm") / owner.name, "r+b") as raw:
            raw.seek(HeaderWord.VERSION * 8)
            raw.write((99).to_bytes(8, "little"))
        with pytest.raises(RingLayoutError, match="layout version 99"):
            client.attach("cam", pool=pool_name)


def test_frames_iterate_in_order_and_end_on_timeout(pool_name):
    with create_ring(pool_name, "cam", SMALL), RingWriter.attach(pool_name, "cam") as writer:
        with client.attach("cam", pool=pool_name) as cam:
            put(writer, 1)
            seqs = []
            for frame in cam.frames(timeout=0.3):
                seqs.append(frame.seq)
                if frame.seq < 3:
                    put(writer, frame.seq + 1)
            assert seqs == [1, 2, 3] and cam.missed == 0
        with pytest.raises(RingError, match="closed"):
            cam.status()


def test_latest_jumps_to_the_newest_frame(pool_name):
    with create_ring(pool_name, "cam", SMALL), RingWriter.attach(pool_name, "cam") as writer:
        with client.attach("cam", pool=pool_name) as cam:
            put(writer, 1)
            assert cam.read(timeout=1).seq == 1
            for value in range(2, 6):
                put(writer, value)
            frame = cam.read(timeout=1, latest=True)
            assert (frame.seq, frame.missed, cam.missed) == (5, 3, 3)
            assert cam.read(timeout=0.05, latest=True) is None
            assert cam.latest().seq == 5


def test_pool_stopping_ends_iteration_with_an_error(pool_name):
    owner = create_ring(pool_name, "cam", SMALL)
    stopper = threading.Timer(0.2, owner.unlink)
    with client.attach("cam", pool=pool_name) as cam:
        stopper.start()
        with pytest.raises(RingError, match="has stopped"):
            for _ in cam.frames(timeout=30):
                pass
    stopper.join()  # readers are woken before the name is removed
    with pytest.raises(RingNotFoundError):
        client.attach("cam", pool=pool_name)


@pytest.mark.timeout(120)
def test_consumer_survives_a_decoder_killed_and_restarted(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(320, 240, 3, 8)) as owner, \
            actors() as started, client.attach("cam", pool=pool_name) as cam:
        started.append(Actor("producer", pool_name, "cam", "--fps", "100"))
        seqs, restarted = [], False
        for frame in cam.frames(timeout=30):
            encoded = stamped_seq(frame.array)
            assert encoded == frame.seq or not frame.is_intact()  # torn only if overwritten
            seqs.append(frame.seq)
            if frame.seq >= 40 and not restarted:
                started[0].kill(signal.SIGKILL)
                wait_for(lambda: not owner.status().producer_alive, what="decoder death")
                started.append(Actor("producer", pool_name, "cam", "--fps", "100"))
                restarted = True
            if frame.seq >= 120:
                break
        assert seqs == sorted(set(seqs)) and seqs[-1] >= 120
        assert owner.status().writer_starts == 2
