"""The status document (``kvs-pool status --json``, the base of ``GET /api/status``): one row per
camera from its ring header, overlaid with the supervisor's view of its decoder."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator

import pytest
from ringtools import put

from kvs_pool.metrics import WorkerView
from kvs_pool.metrics.status_doc import collect_rows, status_document
from kvs_pool.ring import ConnectionState, RingGeometry, RingWriter, create_ring


@pytest.fixture
def rings(pool_name: str) -> Iterator[str]:
    """Rings c1 (three frames, connected, its writer attached twice and still there) and c2
    (never written)."""
    owners = [create_ring(pool_name, cam, RingGeometry(32, 24, slots=4)) for cam in ("c1", "c2")]
    try:
        with RingWriter.attach(pool_name, "c1"):
            pass
        with RingWriter.attach(pool_name, "c1") as writer:
            writer.set_state(ConnectionState.CONNECTED)
            for value in range(3):
                put(writer, value, (24, 32, 3), time.time())
            writer.add(frames=3)
            yield pool_name
    finally:
        for owner in owners:
            owner.unlink()


def _workers() -> list[dict[str, object]]:
    views = [WorkerView(name="decoder-c2", kind="decoder", camera_id="c2", pid=0, up=False,
                        restarts=2, failures=3, backoff_s=20.0, last_exit="gave up (exit 4)"),
             WorkerView(name="inference-people", kind="inference", camera_id="c1", pid=7,
                        up=True, restarts=5, failures=0, backoff_s=0.0)]
    return [dataclasses.asdict(view) for view in views]


def test_rows_join_ring_headers_and_the_decoders_of_the_worker_table(rings: str) -> None:
    doc = status_document(rings, {"workers": _workers()}, ["c1", "c2", "c3"])
    assert doc["pool"] == rings
    assert doc["workers"] == _workers()
    c1, c2, c3 = doc["cameras"]
    # c1: ring values only (its only worker is an inference worker, not its decoder)
    assert (c1["camera_id"], c1["running"], c1["state"], c1["frames"], c1["pid"]) == (
        "c1", True, "connected", 3, os.getpid())
    assert c1["restarts"] == 1 and "up" not in c1       # two writer starts: one restart
    assert 0 <= c1["last_frame_age"] < float("inf")
    # c2: a ring nobody wrote, and a decoder in backoff: the supervisor's values win
    assert (c2["running"], c2["state"], c2["frames"], c2["last_frame_age"]) == (
        True, "disconnected", 0, float("inf"))
    assert (c2["restarts"], c2["up"], c2["backoff_s"], c2["last_exit"]) == (
        2, False, 20.0, "gave up (exit 4)")
    # c3: no ring at all
    assert c3 == {"camera_id": "c3", "running": False}


def test_without_a_worker_table_restarts_come_from_the_ring(rings: str) -> None:
    rows = collect_rows(rings, None, ["c1", "c2"])
    assert [row["restarts"] for row in rows] == [1, 0]
    assert status_document(rings, None, ["c1"])["workers"] == []
