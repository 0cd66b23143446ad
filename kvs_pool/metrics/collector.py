"""The Prometheus collector of a pool: reads ring headers, the worker table and worker stats
files at scrape time (``collect()`` is called fresh on each scrape; nothing is cached).

Per camera (label ``camera_id``), the six metrics users already query::

    kvs_hls_reconnects_total  kvs_hls_frames_total  kvs_hls_url_refreshes_total
    kvs_hls_read_errors_total kvs_hls_last_frame_timestamp  kvs_hls_connection_state

plus ring and health gauges (``kvs_pool_ring_*``, ``kvs_pool_decode_fps``,
``kvs_pool_camera_healthy``), ``kvs_pool_frames_skipped_total{camera_id, reason}`` (frames passed
over on purpose, e.g. ``reason="sampling"``: not a fault); per worker (labels ``worker``, ``kind``,
``camera_id``) the restart count, up/down, pending backoff delay and consecutive failures; per
process (label ``worker``, the supervisor included) CPU seconds and resident memory from psutil; and
the shared-memory telemetry pages of the inference workers, as typed families
(``kvs_pool.metrics.worker_stats``: inference latency histogram, per-camera frame, detection and
event counters, outbox counters and gauges).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kvs_pool.metrics.build_info import build_info
from kvs_pool.metrics.health import camera_problem
from kvs_pool.metrics.liveness import current
from kvs_pool.metrics.view import PoolView, WorkerView
from kvs_pool.metrics.worker_stats import stats_families

__all__ = ["PoolCollector", "CAMERA_METRICS"]

log = logging.getLogger(__name__)

# name, kind, help, RingStatus attribute
CAMERA_METRICS = (
    ("kvs_hls_reconnects_total", "counter", "Reconnections of the camera's source", "reconnects"),
    ("kvs_hls_frames_total", "counter", "Frames decoded and written to the ring", "frames"),
    ("kvs_hls_url_refreshes_total", "counter", "HLS session URL refreshes", "url_refreshes"),
    ("kvs_hls_read_errors_total", "counter", "Failed reads/opens of the source", "read_errors"),
    ("kvs_hls_last_frame_timestamp", "gauge", "Capture time (Unix s) of the last frame",
     "last_frame_wall"),
    ("kvs_hls_connection_state", "gauge",
     "0 disconnected, 1 connecting, 2 connected, 3 reconnecting, 4 error", "state"),
    ("kvs_pool_ring_frames_written_total", "counter", "Frames committed to the ring (sequence)",
     "write_seq"),
    ("kvs_pool_decode_fps", "gauge", "Frames per second written to the ring (EWMA)", "fps"),
    ("kvs_pool_ring_heartbeat_age_seconds", "gauge", "Seconds since the decoder's heartbeat",
     "heartbeat_age"),
    ("kvs_pool_ring_last_frame_age_seconds", "gauge", "Seconds since the last frame",
     "last_frame_age"),
)


def _family(name: str, kind: str, doc: str,
            labels: list[str]) -> CounterMetricFamily | GaugeMetricFamily:
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, doc, labels=labels)


class PoolCollector(Collector):
    """Collector for one pool; register it in a ``CollectorRegistry`` of your own."""

    def __init__(self, view: PoolView) -> None:
        self.view = view
        self._procs: dict[int, psutil.Process] = {}

    def collect(self) -> Iterator[Metric]:
        workers = list(self.view.workers())
        yield from self._camera_metrics(workers)
        yield from self._worker_metrics(workers)
        yield from self._process_metrics(workers)
        yield from stats_families(self.view.pool)
        yield build_info()

    def _camera_metrics(self, workers: list[WorkerView]) -> Iterator[Metric]:
        families = [(_family(n, k, d, ["camera_id"]), attr) for n, k, d, attr in CAMERA_METRICS]
        healthy = GaugeMetricFamily("kvs_pool_camera_healthy", "1 if the camera passes /healthz",
                                    labels=["camera_id"])
        skipped = CounterMetricFamily(
            "kvs_pool_frames_skipped_total", "Frames read from the source and deliberately not "
            "written, by reason (sampling: target_fps below the stream's rate)",
            labels=["camera_id", "reason"])
        decoders = {w.camera_id: w for w in workers if w.kind == "decoder"}
        for camera_id in self.view.camera_ids():
            status = self.view.ring_status(camera_id)
            status = current(status) if status is not None else None
            healthy.add_metric([camera_id], 0.0 if camera_problem(
                decoders.get(camera_id), status) else 1.0)
            if status is not None:
                for family, attr in families:
                    family.add_metric([camera_id], _finite(getattr(status, attr)))
                skipped.add_metric([camera_id, "sampling"], float(status.skipped))
        yield from (family for family, _ in families)
        yield from (skipped, healthy)

    def _worker_metrics(self, workers: list[WorkerView]) -> Iterator[Metric]:
        labels = ["worker", "kind", "camera_id"]
        restarts = CounterMetricFamily("kvs_pool_worker_restarts_total",
                                       "Restarts of the worker after an exit or a hang",
                                       labels=labels)
        reloads = CounterMetricFamily("kvs_pool_worker_config_restarts_total",
                                      "Restarts of the worker because its config changed",
                                      labels=labels)
        up = GaugeMetricFamily("kvs_pool_worker_up", "1 while the worker process runs",
                               labels=labels)
        backoff = GaugeMetricFamily("kvs_pool_worker_backoff_seconds",
                                    "Delay before the pending restart (0 when running)",
                                    labels=labels)
        failures = GaugeMetricFamily("kvs_pool_worker_consecutive_failures",
                                     "Failures in a row (crash loop when growing)", labels=labels)
        for w in workers:
            values = [w.name, w.kind, w.camera_id or ""]
            restarts.add_metric(values, w.restarts)
            reloads.add_metric(values, w.config_restarts)
            up.add_metric(values, 1.0 if w.up else 0.0)
            backoff.add_metric(values, w.backoff_s)
            failures.add_metric(values, w.failures)
        yield from (restarts, reloads, up, backoff, failures)

    def _process_metrics(self, workers: list[WorkerView]) -> Iterator[Metric]:
        cpu = CounterMetricFamily("kvs_pool_process_cpu_seconds_total",
                                  "User + system CPU seconds of the process", labels=["worker"])
        rss = GaugeMetricFamily("kvs_pool_process_resident_memory_bytes",
                                "Resident memory of the process", labels=["worker"])
        pids = [("supervisor", os.getpid())] + [(w.name, w.pid) for w in workers if w.pid]
        for name, pid in pids:
            sample = self._sample(pid)
            if sample is not None:
                cpu.add_metric([name], sample[0])
                rss.add_metric([name], sample[1])
        alive = {pid for _, pid in pids}  # one set: this ran per cached process (O(n^2))
        self._procs = {pid: p for pid, p in self._procs.items() if pid in alive}
        yield from (cpu, rss)

    def _sample(self, pid: int) -> tuple[float, float] | None:
        try:
            proc = self._procs.get(pid) or self._procs.setdefault(pid, psutil.Process(pid))
            with proc.oneshot():
                times, memory = proc.cpu_times(), proc.memory_info()
            return times.user + times.system, float(memory.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return None


def _finite(value: float) -> float:
    """Prometheus accepts +Inf, but an age of 'never' reads better as -1."""
    value = float(value)
    return -1.0 if value == float("inf") else value

