"""`kvs-pool status` reads a running pool's rings (and the supervisor's state file) from another
process: a table with state, fps, frames, restarts and last-frame age per camera."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from ringtools import put

from kvs_pool.metrics import WorkerView
from kvs_pool.pool.statefile import write_state
from kvs_pool.ring import ConnectionState, RingGeometry, RingWriter, create_ring
from kvs_pool.telemetry_page import TelemetryPage


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kvs_pool", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def rings(pool_name: str) -> Iterator[str]:
    owners = [create_ring(pool_name, cam, RingGeometry(32, 24, slots=4)) for cam in ("c1", "c2")]
    try:
        with RingWriter.attach(pool_name, "c1") as writer:
            writer.set_state(ConnectionState.CONNECTED)
            for _ in range(3):
                put(writer, 1, (24, 32, 3), time.time())
            writer.add(frames=3)
        yield pool_name
    finally:
        for owner in owners:
            owner.unlink()


def test_status_table_from_rings_and_state_file(rings: str, tmp_path) -> None:
    views = [WorkerView(name="decoder-c1", kind="decoder", camera_id="c1", pid=1, up=True,
                        restarts=4, failures=0, backoff_s=0.0),
             WorkerView(name="decoder-c2", kind="decoder", camera_id="c2", pid=0, up=False,
                        restarts=2, failures=3, backoff_s=20.0, last_exit="gave up (exit 4)"),
             WorkerView(name="inference-people", kind="inference", camera_id=None, pid=7,
                        up=True, restarts=5, failures=0, backoff_s=0.0)]
    write_state(str(tmp_path), rings, views, {})
    page = TelemetryPage.create(rings, "inference-people", ["c1"], [])   # not a camera
    try:
        result = _cli("status", "--pool", rings, "--state-dir", str(tmp_path))
        doc = json.loads(_cli("status", "--pool", rings, "--state-dir", str(tmp_path),
                              "--json").stdout)
    finally:
        page.close()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["CAMERA", "STATE", "FPS"]
    c1 = next(line for line in lines if line.startswith("c1"))
    c2 = next(line for line in lines if line.startswith("c2"))
    assert "connected" in c1 and " 3 " in c1 and " 4 " in c1 and c1.endswith("up")
    assert "disconnected" in c2 and "never" in c2 and "retry in 20s" in c2
    worker = next(line for line in lines if line.startswith("inference-people"))
    assert worker.split() == ["inference-people", "inference", "up", "5"]
    assert [c["camera_id"] for c in doc["cameras"]] == ["c1", "c2"]
    assert doc["cameras"][0]["frames"] == 3


def test_status_of_a_pool_that_is_not_running(pool_name: str) -> None:
    result = _cli("status", "--pool", pool_name)
    assert result.returncode == 1
    assert "has no rings" in result.stderr
