"""Counters and the inference latency histogram of a pipeline, and their stats document.

The worker publishes ``to_dict()`` on its telemetry page (``kvs_pool.telemetry_page``) about once
a second, where the parent's metrics collector reads it at scrape time, and writes it to
``<state_dir>/stats/<worker>.json`` at exit (atomically: temp file + rename; 0600, see
``kvs_pool.private_files``).
File layout (all counters are totals since the worker started)::

    {"worker": "people", "pid": 123, "updated_wall": 1.7e9, "updated_mono": 53.2,
     "model": "yolov3-tiny",
     "cameras": {"front-door": {"frames_processed": 10, "frames_skipped_motion": 90,
                                "frames_missed": 3, "frames_torn": 0, "detections": 4,
                                "events_start": 1, "events_end": 0, "presences_silenced": 0,
                                "last_frame_ts": 1.7e9}},
     "inference_seconds": {"buckets": {"0.005": 0, ..., "+Inf": 10}, "sum": 0.2, "count": 10}}

``frames_processed`` counts frames the detector ran on, ``frames_skipped_motion`` those the
motion gate stopped, ``frames_missed`` those the camera produced that the worker never looked at
(it always takes the newest frame), ``frames_torn`` those overwritten while being read (results
dropped), ``presences_silenced`` presences confirmed inside the cool-down (no events).
Histogram buckets are cumulative, Prometheus style, keyed by upper bound. The keys and the
families they become (``kvs_pool_inference_seconds`` and the per-camera counters) are declared
in ``kvs_pool.telemetry``; ``pid`` and the update times are not exported.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kvs_pool.private_files import write_private_atomic
from kvs_pool.telemetry import LATENCY_BUCKETS

__all__ = ["LATENCY_BUCKETS", "LatencyHistogram", "CameraCounters", "PipelineStats", "write_json_atomic"]


@dataclass
class LatencyHistogram:
    """Cumulative-bucket histogram of durations in seconds."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def to_dict(self) -> dict[str, Any]:
        """``{"buckets": {"0.005": n, ..., "+Inf": n}, "sum": s, "count": n}`` (cumulative)."""
        running, buckets = 0, {}
        for bound, count in zip([*self.bounds, "+Inf"], self.counts):
            running += count
            buckets[str(bound)] = running
        return {"buckets": buckets, "sum": round(self.total, 6), "count": running}


@dataclass
class CameraCounters:
    """Per-camera totals; the fields are ``kvs_pool.telemetry.CAMERA``'s keys, in its order."""

    frames_processed: int = 0
    frames_skipped_motion: int = 0
    frames_missed: int = 0
    frames_torn: int = 0
    detections: int = 0
    events_start: int = 0
    events_end: int = 0
    presences_silenced: int = 0
    last_frame_ts: float | None = None


@dataclass
class PipelineStats:
    """Everything a worker reports about its pipeline."""

    cameras: dict[str, CameraCounters] = field(default_factory=dict)
    inference: LatencyHistogram = field(default_factory=LatencyHistogram)

    def camera(self, camera_id: str) -> CameraCounters:
        return self.cameras.setdefault(camera_id, CameraCounters())

    def to_dict(self, worker: str, model: str) -> dict[str, Any]:
        return {"worker": worker, "pid": os.getpid(), "updated_wall": time.time(),
                "updated_mono": time.monotonic(), "model": model,
                "cameras": {cid: asdict(c) for cid, c in self.cameras.items()},
                "inference_seconds": self.inference.to_dict()}


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` (0600) so readers see the old or the new file, never half."""
    write_private_atomic(path, json.dumps(doc))
