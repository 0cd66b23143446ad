"""Detection events: the JSON document handed to publishers, and the simplest sinks.

Schema (version 1). Every event is a flat JSON object:

| field | type | meaning |
| --- | --- | --- |
| ``schema`` | int | 1 |
| ``event_id`` | str | uuid4 hex; stable across retries (publishers de-duplicate on it) |
| ``type`` | str | ``start`` (a presence confirmed) or ``end`` (it is gone) |
| ``presence_id`` | str | shared by a start and its end (the start's ``event_id``) |
| ``camera_id`` | str | camera that saw it |
| ``pipeline`` | str | pipeline name from the config |
| ``class`` | str | class name (``motion`` for the motion detector) |
| ``score`` | float | detector score, 0..1 (start: of the confirming frame; end: of the last hit) |
| ``box`` | [float × 4] | ``x1, y1, x2, y2`` in frame pixels |
| ``frame_size`` | [int, int] | ``width, height`` of the frame the box refers to |
| ``roi`` | str or null | include zone the anchor point was in (null: no include zones) |
| ``frame_ts`` | float | capture time of the frame, Unix seconds |
| ``detected_ts`` | float | when the pipeline emitted the event, Unix seconds |
| ``started_ts`` | float | frame time the presence was confirmed |
| ``last_seen_ts`` | float | frame time of its last hit (end: when it was last seen) |
| ``model`` | str | detector model id |
| ``snapshot_uri`` | str or null | filled by the S3 publisher; null here |

A sink receives ``emit_all([(event, snapshot, crop), ...])`` (or ``emit`` of one), ``snapshot``
being the JPEG the pipeline's renderer made for a start event (the inference worker renders with
``kvs_pool.publish.render_snapshot``, as its S3 publishers ask) or None. The publish package's
``Outbox`` is the sink of a pipeline with publishers; ``LogSink`` serves one without.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kvs_pool.pipeline.confirm import Transition

__all__ = ["SCHEMA_VERSION", "EVENT_FIELDS", "EventContext", "EventSink", "Emission", "make_event",
           "validate_event", "LogSink"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (int,), "event_id": (str,), "type": (str,), "presence_id": (str,),
    "camera_id": (str,), "pipeline": (str,), "class": (str,), "score": (float, int),
    "box": (list,), "frame_size": (list,), "roi": (str, type(None)), "frame_ts": (float, int),
    "detected_ts": (float, int), "started_ts": (float, int), "last_seen_ts": (float, int),
    "model": (str,), "snapshot_uri": (str, type(None)),
}


# One event as handed to a sink: (event, snapshot JPEG or None, crop JPEG of the box or None).
Emission = tuple[dict[str, Any], bytes | None, bytes | None]


class EventSink(Protocol):
    """Where confirmed events go (an outbox, a file, the log).

    ``emit_all`` takes the events of one frame together: a sink that can refuse (the outbox,
    when full) stores all of them or raises ``PublishError`` having stored none, so the
    pipeline can leave its confirmation state as it was and try again on a later frame.
    """

    def emit(self, event: dict[str, Any], snapshot: bytes | None,
             crop: bytes | None = None) -> None: ...

    def emit_all(self, items: Sequence[Emission]) -> None: ...


@dataclass(frozen=True)
class EventContext:
    """What an event says about where it came from."""

    camera_id: str
    pipeline: str
    model: str


def _end_id(presence_id: str) -> str:
    """The end event's id: derived from its presence, so a retried end keeps its id."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"kvs-pool.end.{presence_id}").hex


def make_event(ctx: EventContext, tr: Transition, frame_ts: float,
               frame_size: tuple[int, int]) -> dict[str, Any]:
    """The schema-1 event for a confirmation ``Transition``."""
    det = tr.detection
    return {
        "schema": SCHEMA_VERSION,
        "event_id": tr.presence_id if tr.kind == "start" else _end_id(tr.presence_id),
        "type": tr.kind, "presence_id": tr.presence_id,
        "camera_id": ctx.camera_id, "pipeline": ctx.pipeline,
        "class": tr.label, "score": round(float(det.score), 4),
        "box": [round(float(v), 1) for v in det.box], "frame_size": list(frame_size),
        "roi": tr.roi, "frame_ts": frame_ts, "detected_ts": time.time(),
        "started_ts": tr.started_ts, "last_seen_ts": tr.last_hit_ts,
        "model": ctx.model, "snapshot_uri": None,
    }


def validate_event(event: dict[str, Any]) -> list[str]:
    """Problems with ``event`` against schema 1 (empty list: valid)."""
    problems = [f"{k}: missing" for k in EVENT_FIELDS if k not in event]
    problems += [f"{k}: {type(event[k]).__name__} is not {'/'.join(t.__name__ for t in types)}"
                 for k, types in EVENT_FIELDS.items() if k in event and not isinstance(event[k], types)]
    if event.get("type") not in ("start", "end"):
        problems.append(f"type: {event.get('type')!r} is not start/end")
    if isinstance(event.get("box"), list) and len(event["box"]) != 4:
        problems.append("box: needs 4 numbers")
    return problems


class LogSink:
    """Logs each event as one INFO line of JSON."""

    def emit(self, event: dict[str, Any], snapshot: bytes | None, crop: bytes | None = None) -> None:
        log.info("event %s", json.dumps(event, sort_keys=True))

    def emit_all(self, items: Sequence[Emission]) -> None:
        for event, snapshot, crop in items:
            self.emit(event, snapshot, crop)
