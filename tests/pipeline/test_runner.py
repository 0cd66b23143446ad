"""The chained pipeline without processes: gate → detector → ROI → confirmation → sink."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from kvs_pool.pipeline import CameraSetup, ConfirmParams, Detection, GateParams, Pipeline, Zone
from kvs_pool.pipeline.events import EventSink, validate_event
from kvs_pool.publish.base import Outcome
from kvs_pool.publish.outbox import Outbox, OutboxParams

H, W = 240, 320


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], bytes | None]] = []

    def emit(self, event: dict[str, Any], snapshot: bytes | None, crop: bytes | None = None) -> None:
        self.events.append((event, snapshot))

    def emit_all(self, items: list[tuple[dict[str, Any], bytes | None, bytes | None]]) -> None:
        for event, snapshot, crop in items:
            self.emit(event, snapshot, crop)


class BrightBoxDetector:
    """Finds the bright square the test draws: a stand-in detector with known answers."""

    name = "bright-box"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.calls += 1
        ys, xs = np.nonzero(frame[..., 2] > 200)
        if xs.size == 0:
            return []
        return [Detection((float(xs.min()), float(ys.min()), float(xs.max() + 1),
                           float(ys.max() + 1)), 0.9, "box")]

    def close(self) -> None:
        pass


def scene(x: int | None) -> np.ndarray:
    frame = np.full((H, W, 3), 80, np.uint8)
    if x is not None:
        frame[100:160, x:x + 40] = (20, 20, 250)
    return frame


def run(pipe: Pipeline, xs: list[int | None]) -> list[str]:
    reasons = []
    for i, x in enumerate(xs):
        reasons.append(pipe.process("cam", scene(x), 1000.0 + i * 0.2).reason)
    return reasons


def test_a_crossing_object_makes_one_start_and_one_end() -> None:
    sink, det = Recorder(), BrightBoxDetector()
    right = Zone("right", ((0.5, 0), (1, 0), (1, 1), (0.5, 1)))
    setup = CameraSetup("cam", GateParams(refresh_s=1.0), (right,),
                        ConfirmParams(hits=3, window=5, end_after_s=1.0))
    pipe = Pipeline("test", det, sink, [setup],
                    render=lambda frame, event: (b"jpeg:%dx%d" % frame.shape[1::-1], None))
    walk: list[int | None] = [None] * 10 + list(range(0, W - 40, 8)) + [None] * 40
    run(pipe, walk)
    events = [e for e, _ in sink.events]
    assert [(e["type"], e["roi"], e["camera_id"], e["model"]) for e in events] == [
        ("start", "right", "cam", "bright-box"), ("end", "right", "cam", "bright-box")]
    assert all(validate_event(e) == [] for e in events)
    assert sink.events[0][1] == b"jpeg:%dx%d" % (W, H)       # the start carries the rendered image
    assert sink.events[1][1] is None
    counters = pipe.stats.camera("cam")
    assert counters.frames_skipped_motion > 30                 # static frames before and after
    assert counters.frames_processed == det.calls == len(walk) - counters.frames_skipped_motion
    assert (counters.events_start, counters.events_end, counters.presences_silenced) == (1, 1, 0)
    assert pipe.stats.inference.to_dict()["count"] == det.calls


def test_outside_the_zone_nothing_is_confirmed() -> None:
    sink = Recorder()
    left = Zone("left", ((0, 0), (0.3, 0), (0.3, 1), (0, 1)))
    pipe = Pipeline("test", BrightBoxDetector(), sink,
                    [CameraSetup("cam", None, (left,), ConfirmParams(hits=2, window=3))])
    assert set(run(pipe, [200] * 10)) == {"ungated"}
    assert sink.events == [] and pipe.stats.camera("cam").detections == 0


def test_torn_frames_are_dropped_before_confirmation() -> None:
    sink = Recorder()
    pipe = Pipeline("test", BrightBoxDetector(), sink,
                    [CameraSetup("cam", None, (), ConfirmParams(hits=1, window=1))])
    result = pipe.process("cam", scene(10), 1.0, intact=lambda: False)
    assert (result.ran, result.reason) == (False, "torn") and sink.events == []
    assert pipe.stats.camera("cam").frames_torn == 1
    assert pipe.process("cam", scene(10), 2.0, intact=lambda: True).events[0]["type"] == "start"
    assert sink.events[0][1] is None                          # no renderer (default): no image


def test_a_renderer_can_add_a_crop() -> None:
    received: list[tuple[bytes | None, bytes | None]] = []

    class CropSink(Recorder):
        def emit(self, event: dict[str, Any], snapshot: bytes | None, crop: bytes | None = None) -> None:
            received.append((snapshot, crop))

    pipe = Pipeline("test", BrightBoxDetector(), CropSink(),
                    [CameraSetup("cam", None, (), ConfirmParams(hits=1, window=1, end_after_s=0))],
                    render=lambda frame, event: (b"snap", b"crop:" + event["class"].encode()))
    pipe.process("cam", scene(10), 1.0)
    pipe.process("cam", scene(None), 2.0)
    assert received == [(b"snap", b"crop:box"), (None, None)]


def test_event_sink_protocol_takes_the_crop_its_callers_pass() -> None:
    assert "crop" in inspect.signature(EventSink.emit).parameters
    assert "emit_all" in dir(EventSink)


def _outbox(tmp_path: Path, max_events: int) -> Outbox:
    return Outbox(OutboxParams(tmp_path / "outbox.sqlite3", max_events=max_events), {"never": 0})


def _stored(box: Outbox) -> list[tuple[str, str]]:
    return [(item.event["type"], item.event["presence_id"])
            for item in box.next_batch("never", 100)]


def test_a_full_outbox_refuses_a_start_without_opening_its_presence(tmp_path: Path) -> None:
    """Was: PublishError out of process() after confirmation had opened the presence; the
    worker crashed, saved the presence, and its restart emitted an end with no stored start."""
    box = _outbox(tmp_path, max_events=1)
    box.emit({"event_id": "filler", "camera_id": "other", "type": "start"})
    pipe = Pipeline("test", BrightBoxDetector(), box,
                    [CameraSetup("cam", None, (), ConfirmParams(hits=1, window=1, end_after_s=0))])
    result = pipe.process("cam", scene(10), 1.0)              # no exception
    assert result.reason == "refused" and result.events == []
    assert pipe.confirm_snapshot()["cameras"]["cam"]["open"] == []
    assert pipe.stats.camera("cam").events_start == 0
    box.close()


def test_every_stored_end_has_its_start_when_the_outbox_fills_and_drains(tmp_path: Path) -> None:
    box = _outbox(tmp_path, max_events=2)
    pipe = Pipeline("test", BrightBoxDetector(), box,
                    [CameraSetup("cam", None, (), ConfirmParams(hits=1, window=1, end_after_s=0))])
    pipe.process("cam", scene(10), 1.0)                       # start stored (1 of 2)
    box.emit({"event_id": "filler", "camera_id": "other", "type": "start"})   # now full
    assert pipe.process("cam", scene(None), 2.0).reason == "refused"          # end refused
    assert pipe.process("cam", scene(None), 3.0).reason == "refused"          # still open
    filler = [i for i in box.next_batch("never", 10) if i.event["event_id"] == "filler"]
    box.record("never", [Outcome(filler[0].seq, True)])      # room for one again
    ends = pipe.process("cam", scene(None), 4.0).events
    assert [e["type"] for e in ends] == ["end"]
    stored = _stored(box)
    starts = {pid for kind, pid in stored if kind == "start"}
    assert [kind for kind, _ in stored] == ["start", "end"]
    assert all(pid in starts for kind, pid in stored if kind == "end")
    box.close()
