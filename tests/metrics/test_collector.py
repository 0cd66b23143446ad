"""The collector and /healthz against real rings: values come from the ring header at scrape
time, the text parses with prometheus_client's parser, /healthz names unhealthy cameras."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kvs_pool.metrics import MetricsServer, WorkerView
from kvs_pool.ring import ConnectionState, RingGeometry, RingStatus, RingWriter, create_ring

SIX = ("kvs_hls_reconnects", "kvs_hls_frames", "kvs_hls_url_refreshes", "kvs_hls_read_errors",
       "kvs_hls_last_frame_timestamp", "kvs_hls_connection_state")


@dataclass
class FakePool:
    """A PoolView over real rings owned by the test."""

    pool: str
    owners: dict = field(default_factory=dict)
    views: list = field(default_factory=list)
    stats_dir: str | None = None

    def workers(self) -> list[WorkerView]:
        return self.views

    def camera_ids(self) -> list[str]:
        return list(self.owners)

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return self.owners[camera_id].status()


@pytest.fixture
def pool(pool_name: str, tmp_path) -> Iterator[FakePool]:
    fake = FakePool(pool_name, stats_dir=str(tmp_path))
    try:
        for cam in ("a", "b"):
            fake.owners[cam] = create_ring(pool_name, cam, RingGeometry(64, 48, slots=4))
            fake.views.append(WorkerView(name=f"decoder-{cam}", kind="decoder", camera_id=cam,
                                         pid=0, up=True, restarts=2, failures=1, backoff_s=0.0,
                                         heartbeat_timeout_s=20, frame_timeout_s=15))
        yield fake
    finally:
        for owner in fake.owners.values():
            owner.unlink()


def _write(pool: str, cam: str, frames: int) -> None:
    with RingWriter.attach(pool, cam) as writer:
        writer.set_state(ConnectionState.CONNECTED)
        for _ in range(frames):
            writer.loan(48, 64)[:] = 7
            writer.commit(time.time())
        writer.add(frames=frames, reconnects=1, read_errors=3)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_text_parses_and_reads_the_rings(pool: FakePool, tmp_path) -> None:
    (tmp_path / "inference-people.json").write_text(json.dumps({"frames": 12, "fps": 2.5,
                                                                "detector": {"ms": 9}}))
    server = MetricsServer(pool, "127.0.0.1", 0)
    server.start()
    try:
        _write(pool.pool, "a", 5)
        code, body = _get(server.url + "/metrics")
        assert code == 200
        samples = _samples(body.decode())
        for cam in ("a", "b"):
            for name in SIX:
                key = name + ("_total" if not name.endswith(("timestamp", "state")) else "")
                assert (key, (("camera_id", cam),)) in samples, (key, cam)
        assert samples[("kvs_hls_frames_total", (("camera_id", "a"),))] == 5
        assert samples[("kvs_hls_read_errors_total", (("camera_id", "a"),))] == 3
        assert samples[("kvs_pool_ring_frames_written_total", (("camera_id", "a"),))] == 5
        assert samples[("kvs_hls_connection_state", (("camera_id", "a"),))] == 2
        labels = (("camera_id", "a"), ("kind", "decoder"), ("worker", "decoder-a"))
        assert samples[("kvs_pool_worker_restarts_total", labels)] == 2
        assert samples[("kvs_pool_worker_stat", (("stat", "detector_ms"),
                                                 ("worker", "inference-people")))] == 9
        assert ("kvs_pool_process_resident_memory_bytes", (("worker", "supervisor"),)) in samples
    finally:
        server.stop()


def test_healthz_names_unhealthy_cameras(pool: FakePool) -> None:
    server = MetricsServer(pool, "127.0.0.1", 0)
    server.start()
    try:
        code, body = _get(server.url + "/healthz")
        doc = json.loads(body)
        assert code == 503 and set(doc["unhealthy"]) == {"a", "b"}
        _write(pool.pool, "a", 2)
        _write(pool.pool, "b", 2)
        # the writers closed but left state CONNECTED and fresh frames: healthy
        code, body = _get(server.url + "/healthz")
        assert code == 200, body
        pool.views[1] = WorkerView(name="decoder-b", kind="decoder", camera_id="b", pid=0,
                                   up=False, restarts=3, failures=3, backoff_s=10.0,
                                   last_exit="killed by SIGKILL")
        code, body = _get(server.url + "/healthz")
        doc = json.loads(body)
        assert code == 503 and list(doc["unhealthy"]) == ["b"]
        assert "decoder down" in doc["unhealthy"]["b"]
        assert _get(server.url + "/nope")[0] == 404
    finally:
        server.stop()


def test_busy_port_is_a_clear_error(pool: FakePool) -> None:
    first = MetricsServer(pool, "127.0.0.1", 0)
    try:
        with pytest.raises(Exception, match="cannot listen on 127.0.0.1"):
            MetricsServer(pool, "127.0.0.1", first.address[1])
    finally:
        first.stop()
