"""The yolo detector end to end on small ONNX models built here (no weights, fixed outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kvs_pool.errors import DetectorError
from kvs_pool.pipeline.yolo import YoloDetector, YoloParams, names_from_metadata

NAMES = ["person", "car", "dog"]
# Frame 128×64 into a 64×64 input: scale 0.5, picture rows 16..48.
FRAME = np.zeros((64, 128, 3), np.uint8)


def rows_v8() -> np.ndarray:
    """Candidates: a car twice (overlapping), a dog, and a weak person (below threshold)."""
    xywh = [[32, 32, 16, 16], [33, 32, 16, 16], [10, 30, 8, 8], [50, 40, 4, 4]]
    cls = [[0.0, 0.9, 0.0], [0.0, 0.8, 0.0], [0.0, 0.1, 0.6], [0.1, 0.0, 0.0]]
    return np.concatenate([np.array(xywh), np.array(cls)], axis=1).astype(np.float32)


def detector(path: Path, **kw: object) -> YoloDetector:
    return YoloDetector(YoloParams(model=str(path), threads=1, confidence=0.25, **kw))


def test_v8_model_boxes_come_back_in_frame_pixels(constant_model) -> None:
    det = detector(constant_model(rows_v8().T[None], names=NAMES))
    assert det.layout == "v8"
    found = det.detect(FRAME)
    assert [(d.label, round(d.score, 2)) for d in found] == [("car", 0.9), ("dog", 0.6)]
    assert found[0].box == pytest.approx((48.0, 16.0, 80.0, 48.0))
    assert found[1].box == pytest.approx((12.0, 20.0, 28.0, 36.0))


def test_v5_model_gives_the_same_objects(constant_model) -> None:
    rows = rows_v8()
    v5 = np.concatenate([rows[:, :4], np.ones((4, 1), np.float32), rows[:, 4:]], axis=1)[None]
    det = detector(constant_model(v5, names=NAMES))
    assert det.layout == "v5"
    assert [d.label for d in det.detect(FRAME)] == ["car", "dog"]


def test_class_filter_by_name_or_id(constant_model) -> None:
    path = constant_model(rows_v8().T[None], names=NAMES)
    assert [d.label for d in detector(path, classes=("dog",)).detect(FRAME)] == ["dog"]
    assert [d.label for d in detector(path, classes=(1,)).detect(FRAME)] == ["car"]
    with pytest.raises(DetectorError, match="giraffe"):
        detector(path, classes=("giraffe",))


def test_names_from_file_then_metadata_then_coco(constant_model, tmp_path: Path) -> None:
    ultralytics = constant_model(rows_v8().T[None], names={0: "a", 1: "b", 2: "c"})
    assert detector(ultralytics).names == ["a", "b", "c"]
    names_file = tmp_path / "names.txt"
    names_file.write_text("x\ny\n\nz\n")
    assert detector(ultralytics, class_names=str(names_file)).names == ["x", "y", "z"]
    anonymous = detector(constant_model(np.zeros((1, 84, 10), np.float32)))
    assert anonymous.names[:3] == ["person", "bicycle", "car"] and len(anonymous.names) == 80


def test_dynamic_input_takes_the_configured_size(constant_model) -> None:
    det = detector(constant_model(rows_v8().T[None], input_hw=None, names=NAMES), input_size=96)
    assert (det.letterbox.dst_w, det.letterbox.dst_h) == (96, 96)
    assert det.detect(FRAME)          # runs at that size


def test_bad_models_are_named_in_the_error(constant_model, tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="not found"):
        detector(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="junk.onnx"):
        detector(junk)
    with pytest.raises(DetectorError, match="fixed at 64x64"):
        detector(constant_model(rows_v8().T[None], names=NAMES), input_size=128)
    with pytest.raises(DetectorError, match="fits neither"):
        detector(constant_model(np.zeros((1, 9, 10), np.float32), names=NAMES))


def test_metadata_names_parsing() -> None:
    assert names_from_metadata({"names": '["a", "b"]'}) == ["a", "b"]
    assert names_from_metadata({"names": "{1: 'b', 0: 'a'}"}) == ["a", "b"]
    assert names_from_metadata({"names": "{{garbage"}) == []
    assert names_from_metadata({}) == []
