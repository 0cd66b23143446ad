"""The collector and /healthz against real rings: values come from the ring header at scrape
time, the text parses with prometheus_client's parser, /healthz names unhealthy cameras."""

from __future__ import annotations

import dataclasses
import gzip
import json
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from prometheus_client.parser import text_string_to_metric_families
from ringtools import put

import kvs_pool
from kvs_pool.metrics import MetricsServer, PoolCollector, WorkerView
from kvs_pool.metrics.health import camera_problem
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


@contextmanager
def _writing(pool: str, cam: str, frames: int) -> Iterator[RingWriter]:
    """A live writer (this process) that wrote ``frames`` frames, attached until the block ends."""
    with RingWriter.attach(pool, cam) as writer:
        writer.set_state(ConnectionState.CONNECTED)
        for _ in range(frames):
            put(writer, 7, capture_ts=time.time())
        writer.add(frames=frames, reconnects=1, read_errors=3, skipped=4)
        yield writer


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
        with _writing(pool.pool, "a", 5):
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
        assert samples[("kvs_pool_frames_skipped_total",
                        (("camera_id", "a"), ("reason", "sampling")))] == 4
        assert not any(name == "kvs_pool_ring_frames_dropped_total" for name, _ in samples)
        labels = (("camera_id", "a"), ("kind", "decoder"), ("worker", "decoder-a"))
        assert samples[("kvs_pool_worker_restarts_total", labels)] == 2
        assert not any(name == "kvs_pool_worker_stat" for name, _ in samples)
        assert ("kvs_pool_process_resident_memory_bytes", (("worker", "supervisor"),)) in samples
        assert samples[("kvs_pool_build_info", (("version", kvs_pool.__version__),))] == 1
    finally:
        server.stop()


def test_healthz_names_unhealthy_cameras(pool: FakePool) -> None:
    server = MetricsServer(pool, "127.0.0.1", 0)
    server.start()
    try:
        code, body = _get(server.url + "/healthz")
        doc = json.loads(body)
        assert code == 503 and set(doc["unhealthy"]) == {"a", "b"}
        with _writing(pool.pool, "a", 2), _writing(pool.pool, "b", 2):
            code, body = _get(server.url + "/healthz")
            assert code == 200, body
            pool.views[1] = WorkerView(name="decoder-b", kind="decoder", camera_id="b", pid=0,
                                       up=False, restarts=3, failures=3, backoff_s=10.0,
                                       last_exit="killed by SIGKILL")
            code, body = _get(server.url + "/healthz")
            doc = json.loads(body)
            assert code == 503 and list(doc["unhealthy"]) == ["b"]
            assert "decoder down" in doc["unhealthy"]["b"]
        # the writers left state CONNECTED and fresh frames, but they are gone: not healthy
        code, body = _get(server.url + "/healthz")
        doc = json.loads(body)
        assert code == 503 and doc["unhealthy"]["a"] == "connection disconnected", body
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


_KILLED_WRITER = """
import sys, time
from kvs_pool.ring import ConnectionState, RingWriter
writer = RingWriter.attach(sys.argv[1], sys.argv[2])
writer.set_state(ConnectionState.CONNECTED)
for _ in range(30):
    writer.loan(48, 64)[:] = 7
    writer.commit(time.time())
    time.sleep(0.01)
print("ready", flush=True)
time.sleep(600)
"""


def test_writer_killed_reads_disconnected_and_zero_fps(pool: FakePool) -> None:
    """A decoder killed -9 leaves CONNECTED and its last fps in the header: once its process is
    gone the collector reports disconnected and 0 fps (it kept the last values)."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, pool.pool, "a"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        collector = PoolCollector(pool)
        live = _collected(collector)
        assert live[("kvs_hls_connection_state", "a")] == 2
        assert live[("kvs_pool_decode_fps", "a")] > 0
        proc.kill()
        proc.wait(30)
        gone = _collected(collector)
        assert gone[("kvs_hls_connection_state", "a")] == ConnectionState.DISCONNECTED
        assert gone[("kvs_pool_decode_fps", "a")] == 0.0
        assert gone[("kvs_hls_frames_total", "a")] == live[("kvs_hls_frames_total", "a")]
        with RingWriter.attach(pool.pool, "a"):  # its successor has no rate of its own yet
            assert _collected(collector)[("kvs_pool_decode_fps", "a")] == 0.0
    finally:
        proc.kill()
        proc.wait(30)


def _collected(collector: PoolCollector) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("camera_id")): s.value for family in collector.collect()
            for s in family.samples if "camera_id" in s.labels}


def test_scraper_that_goes_away_costs_no_traceback(pool: FakePool, caplog, capfd) -> None:
    """A scraper that resets its connection mid-request is one debug line, not a traceback
    printed on the supervisor's stderr."""
    server = MetricsServer(pool, "127.0.0.1", 0)
    server.start()
    try:
        with caplog.at_level("DEBUG", logger="kvs_pool"):
            sock = socket.create_connection(server.address, timeout=30)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # headers not finished
            time.sleep(0.3)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST
            deadline = time.monotonic() + 30
            while "went away" not in caplog.text:
                assert time.monotonic() < deadline, capfd.readouterr().err
                time.sleep(0.05)
        assert "Traceback" not in capfd.readouterr().err
    finally:
        server.stop()


def test_a_slow_camera_is_healthy_between_its_frames(pool: FakePool) -> None:
    """One stall rule (kvs_pool.stall) at the rate the ring is written: a 0.05 fps camera 40 s
    after its last frame is healthy (limit 100 s), as its source sees it; at 1 fps it is not.
    Was: /healthz used the target fps (none here: 15 s) and called it unhealthy."""
    decoder = WorkerView(name="decoder-a", kind="decoder", camera_id="a", pid=0, up=True,
                         restarts=0, failures=0, backoff_s=0.0)
    with _writing(pool.pool, "a", 2):
        now = time.monotonic()
        status = dataclasses.replace(pool.owners["a"].status(), heartbeat_mono=now - 0.5,
                                     last_frame_mono=now - 40.0)
        assert camera_problem(decoder, dataclasses.replace(status, fps=0.05)) is None
        problem = camera_problem(decoder, dataclasses.replace(status, fps=1.0))
        assert problem is not None and problem.startswith("no frame for 40.") \
            and problem.endswith("(limit 15.0 s)")
        configured = dataclasses.replace(decoder, frame_timeout_s=30.0)
        assert "limit 30.0 s" in str(camera_problem(configured,
                                                    dataclasses.replace(status, fps=0.05)))


def test_metrics_negotiate_openmetrics_and_gzip(pool: FakePool) -> None:
    """prometheus_client's own exposition: what Prometheus asks for is what it gets."""
    server = MetricsServer(pool, "127.0.0.1", 0)
    server.start()
    try:
        with _writing(pool.pool, "a", 1):
            def get(headers: dict[str, str]) -> tuple[str, str | None, bytes]:
                req = urllib.request.Request(server.url + "/metrics", headers=headers)
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return (resp.headers["Content-Type"], resp.headers["Content-Encoding"],
                            resp.read())
            kind, encoding, body = get({})
            assert kind.startswith("text/plain; version=0.0.4") and encoding is None
            assert b"kvs_hls_frames_total{" in body
            kind, _, body = get({"Accept": "application/openmetrics-text; version=1.0.0"})
            assert kind.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
            kind, encoding, body = get({"Accept-Encoding": "gzip"})
            assert encoding == "gzip" and b"kvs_hls_frames_total{" in gzip.decompress(body)
    finally:
        server.stop()
