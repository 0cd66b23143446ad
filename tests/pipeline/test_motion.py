"""Motion detection (MOG2 on a downscale) and the motion gate."""

from __future__ import annotations

import numpy as np

from kvs_pool.pipeline.motion import GateParams, MotionDetector, MotionGate, MotionParams

H, W = 360, 640
RNG = np.random.default_rng(7)
BACKGROUND = RNG.integers(60, 120, (H, W, 3), dtype=np.uint8)


def frame(square_x: int | None = None) -> np.ndarray:
    """The static textured background, with a bright 60×60 square at ``square_x``."""
    img = BACKGROUND.copy()
    if square_x is not None:
        img[150:210, square_x:square_x + 60] = (240, 240, 240)
    return img


def test_static_scene_has_no_motion_after_the_first_frame() -> None:
    motion = MotionDetector()
    first = motion.detect(frame())
    assert first[0].box == (0.0, 0.0, float(W), float(H))        # nothing known yet: all of it
    assert all(motion.detect(frame()) == [] for _ in range(20))


def test_moving_square_is_boxed_in_frame_pixels() -> None:
    motion = MotionDetector(MotionParams(label="moving"))
    for _ in range(10):
        motion.detect(frame())
    boxes = motion.detect(frame(square_x=300))
    assert len(boxes) == 1 and boxes[0].label == "moving"
    x1, y1, x2, y2 = boxes[0].box
    assert 280 <= x1 <= 300 and 360 <= x2 <= 380 and 130 <= y1 <= 150 and 210 <= y2 <= 230


def test_blobs_below_min_area_are_ignored() -> None:
    motion = MotionDetector(MotionParams(min_area=0.05))          # 60×60 is 1.6 % of the frame
    for _ in range(10):
        motion.detect(frame())
    assert motion.detect(frame(square_x=300)) == []


def test_gate_passes_first_motion_and_refresh_and_skips_static() -> None:
    gate = MotionGate(GateParams(refresh_s=5.0))
    reasons = [gate.check(frame(), ts).reason for ts in range(0, 8)]
    assert reasons == ["first", "static", "static", "static", "static", "refresh", "static", "static"]
    moving = gate.check(frame(square_x=100), 8.0)
    assert moving.run and moving.reason == "motion" and len(moving.boxes) == 1


def test_disabled_gate_and_no_refresh() -> None:
    assert MotionGate(GateParams(enabled=False)).check(frame(), 0.0).reason == "disabled"
    gate = MotionGate(GateParams(refresh_s=None))
    assert [gate.check(frame(), float(ts)).run for ts in range(0, 100, 10)] == [True] + [False] * 9
