"""The inference workers' metric families, declared once: name, type, help, labels, unit and
the key a writer stores the value under.

Writers (``kvs_pool.pipeline.stats``, ``kvs_pool.publish.stats``) take their keys from here;
the ``/metrics`` reader (``kvs_pool.metrics.worker_stats``) turns a worker's document into
these families and nothing else. Every family carries the label ``worker`` first; the others
follow in ``labels``. A value the schema does not name is not exported.

Document keys per scope (``CAMERA``: ``doc["cameras"][camera_id][key]``; ``OUTBOX``:
``doc["outbox"][key]``; ``PUBLISHER``: ``doc["outbox"]["publishers"][publisher][key]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Family", "CAMERA", "OUTBOX", "OUTBOX_TOTALS", "PUBLISHER", "INFERENCE_SECONDS",
           "LATENCY_BUCKETS", "keys"]

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Family:
    """One exported family as a writer's key feeds it (``fixed``: labels set by the key)."""

    key: str
    name: str
    kind: Kind
    help: str
    unit: str
    labels: tuple[str, ...] = ()
    fixed: dict[str, str] = field(default_factory=dict)


def _events(kind: str) -> Family:
    return Family(f"events_{kind}", "kvs_pool_events_total", "counter",
                  "Presence events emitted", "events", ("camera_id", "type"), {"type": kind})


def _frames(key: str, name: str, help: str) -> Family:
    return Family(key, name, "counter", help, "frames", ("camera_id",))


CAMERA: tuple[Family, ...] = (
    _frames("frames_processed", "kvs_pool_inference_frames_processed_total",
            "Frames the detector ran on"),
    _frames("frames_skipped_motion", "kvs_pool_inference_frames_skipped_motion_total",
            "Frames the motion gate stopped before the detector"),
    _frames("frames_missed", "kvs_pool_inference_frames_missed_total",
            "Frames the camera produced that the worker never looked at"),
    _frames("frames_torn", "kvs_pool_inference_frames_torn_total",
            "Frames overwritten while being read (results dropped)"),
    Family("detections", "kvs_pool_detections_total", "counter", "Objects detected",
           "objects", ("camera_id",)),
    _events("start"),
    _events("end"),
    Family("presences_silenced", "kvs_pool_presences_silenced_total", "counter",
           "Presences confirmed inside the cool-down (no events)", "presences", ("camera_id",)),
    Family("last_frame_ts", "kvs_pool_inference_last_frame_timestamp_seconds", "gauge",
           "Capture time (Unix s) of the last frame the worker looked at", "seconds",
           ("camera_id",)),
)

OUTBOX_TOTALS: tuple[Family, ...] = (
    Family("queued", "kvs_pool_outbox_events_queued_total", "counter",
           "Events accepted by the outbox", "events"),
    Family("refused", "kvs_pool_outbox_events_refused_total", "counter",
           "Events refused because the outbox was full", "events"),
    Family("dropped", "kvs_pool_outbox_events_dropped_total", "counter",
           "Accepted events dropped before delivery", "events"),
)

OUTBOX: tuple[Family, ...] = (
    *OUTBOX_TOTALS,
    Family("depth", "kvs_pool_outbox_depth", "gauge", "Undelivered events in the outbox",
           "events"),
    Family("depth_bytes", "kvs_pool_outbox_depth_bytes", "gauge",
           "Bytes of the undelivered events (snapshots included)", "bytes"),
    Family("oldest_undelivered_age_s", "kvs_pool_outbox_oldest_undelivered_age_seconds",
           "gauge", "Seconds since the oldest undelivered event was accepted", "seconds"),
)


def _delivery(key: str, name: str, help: str) -> Family:
    return Family(key, name, "counter", help, "events", ("publisher",))


PUBLISHER: tuple[Family, ...] = (
    _delivery("delivered", "kvs_pool_outbox_delivered_total", "Events delivered by the publisher"),
    _delivery("failures", "kvs_pool_outbox_failures_total", "Failed deliveries of an event"),
    _delivery("retries", "kvs_pool_outbox_retries_total", "Deliveries that were retries"),
    _delivery("rejected", "kvs_pool_outbox_rejected_total",
              "Events the destination refused for good (e.g. a webhook's 4xx); not retried"),
)

# Upper bounds (s) of the latency histogram's finite buckets; +Inf follows.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5)
INFERENCE_SECONDS = Family("inference_seconds", "kvs_pool_inference_seconds", "histogram",
                           "Seconds the detector took per frame", "seconds")


def keys(families: tuple[Family, ...]) -> tuple[str, ...]:
    """The document keys of ``families``, in declaration order."""
    return tuple(f.key for f in families)
