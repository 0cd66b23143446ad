"""The chained pipeline without processes: gate → detector → ROI → confirmation → sink."""

from __future__ import annotations

from typing import Any

import numpy as np

from kvs_pool.pipeline import CameraSetup, ConfirmParams, Detection, GateParams, Pipeline, Zone
from kvs_pool.pipeline.events import validate_event

H, W = 240, 320


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], bytes | None]] = []

    def emit(self, event: dict[str, Any], snapshot: bytes | None) -> None:
        self.events.append((event, snapshot))


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

    class CropSink:
        def emit(self, event: dict[str, Any], snapshot: bytes | None, crop: bytes | None = None) -> None:
            received.append((snapshot, crop))

    pipe = Pipeline("test", BrightBoxDetector(), CropSink(),
                    [CameraSetup("cam", None, (), ConfirmParams(hits=1, window=1, end_after_s=0))],
                    render=lambda frame, event: (b"snap", b"crop:" + event["class"].encode()))
    pipe.process("cam", scene(10), 1.0)
    pipe.process("cam", scene(None), 2.0)
    assert received == [(b"snap", b"crop:box"), (None, None)]
