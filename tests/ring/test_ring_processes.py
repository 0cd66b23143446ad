"""The ring across real processes: intact in-order frames, laps, kills, restarts, resizes, sweeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from actor_procs import Actor, actors
from polling import wait_for

from kvs_pool.ring import RingGeometry, RingReader, create_ring, sweep_stale

pytestmark = pytest.mark.timeout(180)

SHM = Path("/dev/shm")


def _assert_clean(report: dict) -> None:
    assert report["torn"] == 0, report
    assert report["wrong_seq"] == 0, report
    assert report["out_of_order"] == 0, report
    assert report["accounting_errors"] == 0, report


def test_two_consumers_see_every_frame_intact_and_in_order(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(320, 240, 3, 8)), actors() as started:
        consumers = [Actor("consumer", pool_name, "cam", "--until", "400") for _ in range(2)]
        started += consumers
        for consumer in consumers:
            assert consumer.line() == "ready"
        producer = Actor("producer", pool_name, "cam", "--frames", "400", "--fps", "200")
        started.append(producer)
        assert producer.result()["last_seq"] == 400
        for consumer in consumers:
            report = consumer.result()
            _assert_clean(report)
            assert report["last"] == 400
            # Paced at 200 fps with 8 slots, consumers keep up: accepted + missed covers all.
            assert report["accepted"] + report["missed_sum"] + report["overwritten"] \
                == 400 - report["first"] + 1


def test_slow_consumer_is_lapped_reports_missed_and_never_accepts_a_torn_frame(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(320, 240, 3, 4)), actors() as started:
        slow = Actor("consumer", pool_name, "cam", "--until", "1500", "--hold", "0.01")
        started.append(slow)
        assert slow.line() == "ready"
        producer = Actor("producer", pool_name, "cam", "--frames", "1500")
        started.append(producer)
        assert producer.result()["last_seq"] == 1500
        report = slow.result()
        _assert_clean(report)
        assert report["missed_total"] > 0
        assert report["missed_total"] == report["missed_sum"]
        assert report["accepted"] > 0


def test_consumer_killed_mid_read_leaves_producer_and_ring_alone(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(320, 240, 3, 4)) as owner, \
            actors() as started:
        producer = Actor("producer", pool_name, "cam", "--fps", "100")
        consumer = Actor("consumer", pool_name, "cam", "--hold", "0.05", "--timeout", "60")
        started += [producer, consumer]
        assert consumer.line() == "ready"
        wait_for(lambda: owner.status().write_seq > 20, what="frames flowing")
        consumer.kill(signal.SIGKILL)
        seq_at_kill = owner.status().write_seq
        wait_for(lambda: owner.status().write_seq > seq_at_kill + 20,
                 what="producer carrying on after the consumer's death")
        assert producer.proc.poll() is None
        assert (SHM / owner.name).exists()


def test_producer_killed_and_restarted_consumers_carry_on(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(320, 240, 3, 8)) as owner, \
            actors() as started:
        consumer = Actor("consumer", pool_name, "cam", "--until", "300", "--timeout", "60")
        first = Actor("producer", pool_name, "cam", "--fps", "100")
        started += [consumer, first]
        assert consumer.line() == "ready"
        wait_for(lambda: owner.status().write_seq >= 50, what="first producer's frames")
        first.kill(signal.SIGKILL)
        killed_at = owner.status().write_seq
        second = Actor("producer", pool_name, "cam", "--fps", "100", "--frames", "400")
        started.append(second)
        report = consumer.result()
        _assert_clean(report)
        assert report["last"] >= 300 > killed_at
        status = owner.status()
        assert status.writer_starts == 2
        assert status.write_seq > killed_at


def test_resolution_change_bumps_generation_and_readers_follow(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(320, 240, 3, 8)), actors() as started:
        consumer = Actor("consumer", pool_name, "cam", "--until", "200")
        started.append(consumer)
        assert consumer.line() == "ready"
        producer = Actor("producer", pool_name, "cam", "--frames", "200", "--fps", "200",
                         "--switch-at", "100", "--size", "320x240", "--size2", "200x100")
        started.append(producer)
        producer.result()
        report = consumer.result()
        _assert_clean(report)
        assert [240, 320, 3] in report["shapes"] and [100, 200, 3] in report["shapes"]
        assert max(report["generations"]) == min(report["generations"]) + 1


def test_sweep_removes_segments_of_a_dead_owner_only(pool_name):
    with actors() as started:
        dead_owner = Actor("owner", pool_name, "dead")
        started.append(dead_owner)
        assert dead_owner.line() == "ready"
        dead_owner.kill(signal.SIGKILL)
        with create_ring(pool_name, "alive", RingGeometry(64, 48, 3, 4)) as live:
            assert (SHM / f"kvspool.{pool_name}.dead").exists()  # nobody unlinked it
            assert sweep_stale(pool_name) == [f"kvspool.{pool_name}.dead"]
            assert not (SHM / f"kvspool.{pool_name}.dead").exists()
            assert (SHM / live.name).exists()


def test_attaching_process_exit_neither_unlinks_nor_warns(pool_name):
    code = ("import sys; from kvs_pool.ring import RingReader, RingWriter;"
            "r = RingReader.attach(sys.argv[1], 'cam'); w = RingWriter.attach(sys.argv[1], 'cam');"
            "a = w.loan(10, 10); w.commit(1.0);"
            "f = r.next(1.0); assert f is not None and f.seq == 1")
    with create_ring(pool_name, "cam", RingGeometry(64, 48, 3, 4)) as owner:
        done = subprocess.run([sys.executable, "-c", code, pool_name], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "resource_tracker" not in done.stderr and "leaked" not in done.stderr, done.stderr
        assert (SHM / owner.name).exists()
        with RingReader.attach(pool_name, "cam") as reader:
            assert reader.latest().seq == 1


def test_segments_are_private_to_the_user(pool_name):
    with create_ring(pool_name, "cam", RingGeometry(64, 48, 3, 4)) as owner:
        assert (os.stat(SHM / owner.name).st_mode & 0o777) == 0o600
