"""Prometheus metrics and health of a pool, read from ring headers at scrape time.

``MetricsServer(view, host, port)`` serves ``/metrics`` and ``/healthz`` from a thread;
``PoolCollector(view)`` is the collector behind it; ``PoolView``/``WorkerView`` are what it
reads (the supervisor provides them). ``status_doc`` builds the JSON status document that
``kvs-pool status --json`` prints and ``GET /api/status`` extends.
"""

from kvs_pool.metrics.collector import CAMERA_METRICS, PoolCollector
from kvs_pool.metrics.health import camera_problem, unhealthy_cameras
from kvs_pool.metrics.server import MetricsServer
from kvs_pool.metrics.view import PoolView, WorkerView

__all__ = ["CAMERA_METRICS", "MetricsServer", "PoolCollector", "PoolView", "WorkerView",
           "camera_problem", "unhealthy_cameras"]
