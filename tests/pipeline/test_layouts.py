"""Decoding of the v5 and v8 output layouts, and per-class NMS."""

from __future__ import annotations

import numpy as np
import pytest

from kvs_pool.errors import DetectorError
from kvs_pool.pipeline.layouts import Candidates, decode, detect_layout, nms

# Three candidates in input pixels (cx, cy, w, h) for 3 classes.
XYWH = np.array([[50, 50, 20, 40], [200, 100, 60, 60], [300, 300, 10, 10]], np.float32)
CLASS_SCORES = np.array([[0.9, 0.1, 0.0], [0.2, 0.1, 0.7], [0.3, 0.2, 0.1]], np.float32)


def v5_output(objectness: list[float]) -> np.ndarray:
    obj = np.array(objectness, np.float32)[:, None]
    return np.concatenate([XYWH, obj, CLASS_SCORES], axis=1)[None]      # (1, 3, 8)


def v8_output() -> np.ndarray:
    return np.concatenate([XYWH, CLASS_SCORES], axis=1).T[None]         # (1, 7, 3)


def test_v5_score_is_objectness_times_class_and_boxes_are_corners() -> None:
    cands = decode(v5_output([1.0, 0.5, 0.9]), "v5", conf=0.25)
    assert cands.class_ids.tolist() == [0, 2, 0]
    assert cands.scores.tolist() == pytest.approx([0.9, 0.35, 0.27])
    assert cands.boxes[0].tolist() == [40, 30, 60, 70]


def test_v5_low_objectness_drops_the_candidate() -> None:
    cands = decode(v5_output([1.0, 0.2, 0.9]), "v5", conf=0.25)
    assert cands.class_ids.tolist() == [0, 0]


def test_v8_has_no_objectness_and_is_transposed() -> None:
    cands = decode(v8_output(), "v8", conf=0.25)
    assert cands.class_ids.tolist() == [0, 2, 0]
    assert cands.scores.tolist() == pytest.approx([0.9, 0.7, 0.3])
    assert cands.boxes[1].tolist() == [170, 70, 230, 130]


def test_class_filter_keeps_best_allowed_class() -> None:
    cands = decode(v8_output(), "v8", conf=0.15, allowed=np.array([1, 2]))
    assert cands.class_ids.tolist() == [2, 1]           # row 0's best allowed (0.1) is dropped
    assert cands.scores.tolist() == pytest.approx([0.7, 0.2])


def test_layout_is_detected_from_shape_and_class_count() -> None:
    assert detect_layout((1, 2535, 85), 80) == "v5"
    assert detect_layout((1, 84, 8400), 80) == "v8"
    assert detect_layout((1, 84, 8400), None) == "v8"
    assert detect_layout((1, 25200, 85), None) == "v5"
    with pytest.raises(DetectorError, match="fits neither"):
        detect_layout((1, 10, 20), 80)
    with pytest.raises(DetectorError, match="expected"):
        detect_layout((2535, 85), 80)


def cands(boxes: list[list[float]], scores: list[float], ids: list[int]) -> Candidates:
    return Candidates(np.array(boxes, np.float32), np.array(scores, np.float32), np.array(ids))


def test_nms_suppresses_overlaps_of_one_class_only() -> None:
    c = cands([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]],
              [0.8, 0.9, 0.7, 0.6], [0, 0, 1, 0])
    kept = nms(c, iou=0.5)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert kept.class_ids.tolist() == [0, 1, 0]


def test_nms_keeps_boxes_overlapping_less_than_the_threshold() -> None:
    c = cands([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], [0, 0])     # IoU = 1/3
    assert len(nms(c, iou=0.5)) == 2
    assert len(nms(c, iou=0.3)) == 1


def test_nms_caps_the_count_and_handles_nothing() -> None:
    c = cands([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], [0.5] * 5, [0] * 5)
    assert len(nms(c, iou=0.5, max_det=3)) == 3
    assert len(nms(c.take(np.zeros(5, bool)), iou=0.5)) == 0
