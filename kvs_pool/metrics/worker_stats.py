"""Prometheus families from the inference workers' stats files, read at scrape time.

Each ``<stats_dir>/<worker>.json`` (layout: ``kvs_pool.pipeline.stats`` plus the outbox's
``snapshot_stats()`` under ``"outbox"``) becomes typed samples; the ``worker`` label is the
file's name (the supervisor's name for the worker, as in ``kvs_pool_worker_up``)::

    kvs_pool_inference_seconds{worker}                  histogram (cumulative buckets, +Inf)
    kvs_pool_inference_frames_{processed,skipped_motion,missed,torn}_total{worker, camera_id}
    kvs_pool_detections_total{worker, camera_id}
    kvs_pool_events_total{worker, camera_id, type="start"|"end"}
    kvs_pool_presences_silenced_total{worker, camera_id}
    kvs_pool_inference_last_frame_timestamp{worker, camera_id}        gauge, Unix s
    kvs_pool_outbox_events_{queued,refused,dropped}_total{worker}
    kvs_pool_outbox_{depth,depth_bytes,oldest_undelivered_age_seconds}{worker}   gauges
    kvs_pool_outbox_{delivered,failures,retries,rejected}_total{worker, publisher}
    kvs_pool_worker_stat{worker, stat}                  gauge: every other number

Numbers the tables below do not name (``pid``, ``updated_wall``, a key a newer worker adds)
stay visible in the generic gauge, nested keys joined with ``_``; once a key gets a typed family
it leaves the generic one. A file that cannot be read or parsed, or whose root is not an
object, is skipped (debug log); so is a histogram whose buckets are not cumulative numbers.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from prometheus_client.utils import floatToGoString

__all__ = ["stats_families", "read_stats_dir", "CAMERA_FIELDS", "OUTBOX_FIELDS",
           "PUBLISHER_FIELDS"]

log = logging.getLogger(__name__)

# stats-file key (per camera) -> family name, kind, help, extra label value (type) or None
CAMERA_FIELDS: dict[str, tuple[str, str, str, str | None]] = {
    "frames_processed": ("kvs_pool_inference_frames_processed_total", "counter",
                         "Frames the detector ran on", None),
    "frames_skipped_motion": ("kvs_pool_inference_frames_skipped_motion_total", "counter",
                              "Frames the motion gate stopped before the detector", None),
    "frames_missed": ("kvs_pool_inference_frames_missed_total", "counter",
                      "Frames the camera produced that the worker never looked at", None),
    "frames_torn": ("kvs_pool_inference_frames_torn_total", "counter",
                    "Frames overwritten while being read (results dropped)", None),
    "detections": ("kvs_pool_detections_total", "counter", "Objects detected", None),
    "events_start": ("kvs_pool_events_total", "counter", "Presence events emitted", "start"),
    "events_end": ("kvs_pool_events_total", "counter", "Presence events emitted", "end"),
    "presences_silenced": ("kvs_pool_presences_silenced_total", "counter",
                           "Presences confirmed inside the cool-down (no events)", None),
    "last_frame_ts": ("kvs_pool_inference_last_frame_timestamp", "gauge",
                      "Capture time (Unix s) of the last frame the worker looked at", None),
}
# outbox key -> family name, kind, help
OUTBOX_FIELDS: dict[str, tuple[str, str, str]] = {
    "queued": ("kvs_pool_outbox_events_queued_total", "counter", "Events accepted by the outbox"),
    "refused": ("kvs_pool_outbox_events_refused_total", "counter",
                "Events refused because the outbox was full"),
    "dropped": ("kvs_pool_outbox_events_dropped_total", "counter",
                "Accepted events dropped before delivery"),
    "depth": ("kvs_pool_outbox_depth", "gauge", "Undelivered events in the outbox"),
    "depth_bytes": ("kvs_pool_outbox_depth_bytes", "gauge",
                    "Bytes of the undelivered events (snapshots included)"),
    "oldest_undelivered_age_s": ("kvs_pool_outbox_oldest_undelivered_age_seconds", "gauge",
                                 "Seconds since the oldest undelivered event was accepted"),
}
# outbox publisher key -> family name, help (all counters)
PUBLISHER_FIELDS: dict[str, tuple[str, str]] = {
    "delivered": ("kvs_pool_outbox_delivered_total", "Events delivered by the publisher"),
    "failures": ("kvs_pool_outbox_failures_total", "Failed deliveries of an event"),
    "retries": ("kvs_pool_outbox_retries_total", "Deliveries that were retries"),
    "rejected": ("kvs_pool_outbox_rejected_total",
                 "Events the destination refused for good (e.g. a webhook's 4xx); not retried"),
}
HISTOGRAM_KEY = "inference_seconds"
GENERIC = "kvs_pool_worker_stat"


def stats_families(directory: str | None) -> list[Metric]:
    """Every family above, filled from the stats files in ``directory`` (empty if none)."""
    families = _Families()
    for worker, doc in read_stats_dir(directory):
        families.add_worker(worker, doc)
    return [families.histogram, *families.by_name.values()]


def read_stats_dir(directory: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(worker, document)`` of each readable ``<worker>.json``, by worker name."""
    if not directory or not os.path.isdir(directory):
        return
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError, RecursionError) as exc:  # gone, partial, not JSON
            log.debug("skipping stats file %s: %s", path, exc)
            continue
        if isinstance(doc, dict):
            yield entry[:-5], doc
        else:
            log.debug("skipping stats file %s: not a JSON object", path)


class _Families:
    """The families of one scrape: the histogram, the others keyed by name (stable order)."""

    def __init__(self) -> None:
        self.histogram = HistogramMetricFamily(
            "kvs_pool_inference_seconds", "Seconds the detector took per frame",
            labels=["worker"])
        self.by_name: dict[str, Metric] = {}
        for name, kind, doc, kind_label in CAMERA_FIELDS.values():
            labels = ["worker", "camera_id"] + (["type"] if kind_label else [])
            self._declare(name, kind, doc, labels)
        for name, kind, doc in OUTBOX_FIELDS.values():
            self._declare(name, kind, doc, ["worker"])
        for name, doc in PUBLISHER_FIELDS.values():
            self._declare(name, "counter", doc, ["worker", "publisher"])
        self._declare(GENERIC, "gauge", "Numbers of the workers' stats files without a "
                      "metric of their own (nested keys joined with '_')", ["worker", "stat"])

    def _declare(self, name: str, kind: str, doc: str, labels: list[str]) -> None:
        if name not in self.by_name:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            self.by_name[name] = cls(name, doc, labels=labels)

    def add_worker(self, worker: str, doc: Mapping[str, Any]) -> None:
        histogram = doc.get(HISTOGRAM_KEY)
        if isinstance(histogram, Mapping):
            self._add_histogram(worker, histogram)
        for path, value in _numeric_leaves(doc):
            if path[0] != HISTOGRAM_KEY:
                name, labels = _route(path) or (GENERIC, ["_".join(path)])
                self.by_name[name].add_metric([worker, *labels], value)

    def _add_histogram(self, worker: str, doc: Mapping[str, Any]) -> None:
        buckets = _cumulative_buckets(doc)
        total = doc.get("sum")
        if buckets is None or not _is_number(total):
            log.debug("worker %s: skipping malformed %s %r", worker, HISTOGRAM_KEY, doc)
            return
        self.histogram.add_metric([worker], buckets, float(total))


def _route(path: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """The typed family of one leaf and its labels after ``worker``; None if none names it."""
    if len(path) == 3 and path[0] == "cameras" and path[2] in CAMERA_FIELDS:
        name, _, _, kind_label = CAMERA_FIELDS[path[2]]
        return name, [path[1]] + ([kind_label] if kind_label else [])
    if len(path) == 2 and path[0] == "outbox" and path[1] in OUTBOX_FIELDS:
        return OUTBOX_FIELDS[path[1]][0], []
    if len(path) == 4 and path[:2] == ("outbox", "publishers") and path[3] in PUBLISHER_FIELDS:
        return PUBLISHER_FIELDS[path[3]][0], [path[2]]
    return None


def _cumulative_buckets(doc: Mapping[str, Any]) -> list[tuple[str, float]] | None:
    """``[(le, count), ..., ("+Inf", count)]`` sorted by bound, or None unless the file's
    buckets are numbers that never decrease (the writer's cumulative, Prometheus layout).
    A missing ``+Inf`` bucket is taken from ``count``."""
    raw = doc.get("buckets")
    if not isinstance(raw, Mapping):
        return None
    try:
        pairs = sorted((float(bound), value) for bound, value in raw.items())
    except (TypeError, ValueError):
        return None
    if not pairs or pairs[-1][0] != math.inf:
        pairs.append((math.inf, doc.get("count")))
    counts = [value for _, value in pairs]
    if not all(_is_number(c) and c >= 0 for c in counts) or any(
            later < earlier for earlier, later in zip(counts, counts[1:])):
        return None
    return [(floatToGoString(bound), float(count)) for bound, count in pairs]


def _numeric_leaves(doc: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], float]]:
    """``(key path, value)`` of each number in ``doc``, depth first in file order."""
    for key, value in doc.items():
        if isinstance(value, Mapping):
            for path, leaf in _numeric_leaves(value):
                yield (str(key), *path), leaf
        elif _is_number(value):
            yield (str(key),), float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
