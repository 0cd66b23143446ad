"""Event documents (schema 1) and the jsonl / log sinks."""

from __future__ import annotations

import json
import logging

import pytest

from kvs_pool.pipeline.confirm import Transition
from kvs_pool.pipeline.detection import Detection
from kvs_pool.pipeline.events import (
    EventContext,
    LogSink,
    make_event,
    validate_event,
)

CTX = EventContext("front-door", "people", "yolov3-tiny")
DET = Detection((10.04, 20.0, 110.0, 220.0), 0.87654, "person", 0, "porch")


def transition(kind: str) -> Transition:
    return Transition(kind, "person", "porch", DET, "a" * 32, 100.0, 104.0)


def test_start_event_fields() -> None:
    event = make_event(CTX, transition("start"), 104.5, (1280, 720))
    assert validate_event(event) == []
    assert event["event_id"] == event["presence_id"] == "a" * 32
    assert (event["type"], event["class"], event["roi"], event["camera_id"]) == (
        "start", "person", "porch", "front-door")
    assert event["box"] == [10.0, 20.0, 110.0, 220.0] and event["score"] == 0.8765
    assert event["frame_ts"] == 104.5 and event["detected_ts"] > 1.5e9
    assert json.loads(json.dumps(event)) == event


def test_end_event_has_its_own_stable_id() -> None:
    end1 = make_event(CTX, transition("end"), 120.0, (1280, 720))
    end2 = make_event(CTX, transition("end"), 120.0, (1280, 720))
    assert validate_event(end1) == []
    assert end1["event_id"] == end2["event_id"] != end1["presence_id"]


def test_validate_names_each_problem() -> None:
    event = make_event(CTX, transition("start"), 1.0, (10, 10))
    del event["model"]
    event["score"], event["type"], event["box"] = "high", "middle", [1, 2]
    problems = validate_event(event)
    assert "model: missing" in problems
    assert any(p.startswith("score:") for p in problems)
    assert any(p.startswith("type:") for p in problems)
    assert "box: needs 4 numbers" in problems


def test_log_sink(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kvs_pool.pipeline.events")
    sink = LogSink()
    sink.emit_all([(make_event(CTX, transition(kind), 1.0, (10, 10)), None, None)
                   for kind in ("start", "end")])
    assert caplog.text.count('"camera_id": "front-door"') == 2
