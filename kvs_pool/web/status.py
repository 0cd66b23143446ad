"""The document behind ``GET /api/status``: ``kvs-pool status --json`` plus what the page shows.

The base is the document ``kvs-pool status --json`` prints (``kvs_pool.metrics.status_doc``)
fed with the supervisor's live worker table instead of its state file, so both always hold the
same fields.
Added per camera: ``health`` (the ``/healthz`` reason in words, null when healthy), ``width``,
``height``, ``seq`` (newest frame, for cache-busting thumbnails), ``pipelines``,
``jpeg_encodes`` (JPEG encodes this camera has cost the web server so far); per worker:
``cpu`` (cores, averaged since the previous request) and ``rss_bytes``; and pool ``totals``.
Non-finite numbers (a camera that never had a frame: infinite age) become null, as JSON wants.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from kvs_pool.metrics.health import camera_problem
from kvs_pool.metrics.status_doc import status_document
from kvs_pool.metrics.view import PoolView

__all__ = ["StatusBuilder"]


class _ProcessMeter:
    """CPU (cores) and resident memory per pid, from psutil. CPU is the average since the
    previous sample of that pid, taken at most every ``_MIN_INTERVAL_S`` (closer samples,
    e.g. two pages polling at once, reuse the last figure instead of dividing by ~0 s)."""

    _MIN_INTERVAL_S = 0.5

    def __init__(self) -> None:
        self._procs: dict[int, tuple[psutil.Process, float | None, float]] = {}
        self._lock = threading.Lock()

    def sample(self, pid: int) -> tuple[float | None, int | None]:
        if pid <= 0:
            return None, None
        now = time.monotonic()
        with self._lock:
            try:
                known = self._procs.get(pid)
                if known is None:  # first sight: prime the counter, no CPU figure until the next
                    proc, cpu = psutil.Process(pid), None
                    proc.cpu_percent(None)
                elif now - known[2] < self._MIN_INTERVAL_S:
                    return known[1], known[0].memory_info().rss
                else:
                    proc, cpu = known[0], round(known[0].cpu_percent(None) / 100.0, 3)
                self._procs[pid] = (proc, cpu, now)
                return cpu, proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(pid, None)
                return None, None

    def forget_except(self, pids: set[int]) -> None:
        with self._lock:
            for pid in set(self._procs) - pids:
                del self._procs[pid]


class StatusBuilder:
    """Builds the status document of one running pool from its ``PoolView``."""

    def __init__(self, view: PoolView, encodes: Callable[[str], int],
                 pipelines: Callable[[], dict[str, list[str]]] | None = None) -> None:
        self.view, self.encodes = view, encodes
        self.pipelines = pipelines or dict   # () -> camera id -> pipelines reading it
        self._meter = _ProcessMeter()

    def document(self) -> dict[str, Any]:
        workers = list(self.view.workers())
        state = {"workers": [dataclasses.asdict(w) for w in workers]}
        doc = status_document(self.view.pool, state, list(self.view.camera_ids()))
        decoders = {w.camera_id: w for w in workers if w.kind == "decoder"}
        pipelines = self.pipelines()
        for row in doc["cameras"]:
            self._camera_extras(row, decoders.get(row["camera_id"]))
            row["pipelines"] = pipelines.get(row["camera_id"], [])
        for row in doc["workers"]:
            row["cpu"], row["rss_bytes"] = self._meter.sample(row["pid"] if row["up"] else 0)
        self._meter.forget_except({w.pid for w in workers} | {os.getpid()})
        self._pool_extras(doc)
        return {key: _finite(value) for key, value in doc.items()}

    def _camera_extras(self, row: dict[str, Any], worker: Any) -> None:
        status = self.view.ring_status(row["camera_id"])
        row["health"] = camera_problem(worker, status)
        row["jpeg_encodes"] = self.encodes(row["camera_id"])
        if status is not None:
            row.update(width=status.width, height=status.height, seq=status.write_seq)

    def _pool_extras(self, doc: dict[str, Any]) -> None:
        cams, workers = doc["cameras"], doc["workers"]
        me = psutil.Process()
        doc["supervisor"] = {"pid": me.pid, "cpu": self._meter.sample(me.pid)[0],
                             "rss_bytes": me.memory_info().rss}
        doc["totals"] = {
            "cameras": len(cams),
            "healthy": sum(1 for c in cams if c.get("health") is None),
            "fps": round(sum(c.get("fps", 0.0) for c in cams), 2),
            "frames": sum(c.get("frames", 0) for c in cams),
            "workers": len(workers),
            "workers_up": sum(1 for w in workers if w["up"]),
            "restarts": sum(w["restarts"] for w in workers),
            "cpu": None if doc["supervisor"]["cpu"] is None else   # first sample: no figure
                   round(sum(w["cpu"] or 0.0 for w in workers) + doc["supervisor"]["cpu"], 3),
            "rss_bytes": sum(w["rss_bytes"] or 0 for w in workers)
                         + doc["supervisor"]["rss_bytes"],
        }
        doc["time"] = time.time()


def _finite(value: Any) -> Any:
    """The document with inf/nan replaced by None (JSON has no infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
