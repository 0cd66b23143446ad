"""Snapshots: boxes drawn on a copy of the frame, JPEG out; crops of the raw pixels."""

from __future__ import annotations

import cv2
import numpy as np

from kvs_pool.publish import render_crop, render_snapshot
from kvs_pool.publish.s3 import snapshot_key


def _decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_snapshot_draws_the_box_and_leaves_the_frame_alone():
    frame = np.full((360, 640, 3), 30, np.uint8)
    event = {"class": "person", "score": 0.9, "box": [100, 80, 300, 280]}
    image = _decode(render_snapshot(frame, event))
    assert image.shape == frame.shape
    assert (frame == 30).all()
    edge = image[180, 99:102].astype(int)           # left edge of the box: green
    assert edge[:, 1].max() > 200 and edge[:, 2].max() < 90
    assert abs(int(image[180, 200, 1]) - 30) < 10   # inside untouched


def test_crop_is_the_raw_box_and_none_without_box():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[10:50, 20:80] = 200
    crop = _decode(render_crop(frame, {"box": [20, 10, 79, 49]}))
    assert crop.shape == (40, 60, 3) and crop.mean() > 190
    assert render_crop(frame, {}) is None


def test_snapshot_key_uses_utc_hour_of_the_frame():
    event = {"camera_id": "door", "event_id": "abc", "frame_ts": 0.0}
    assert snapshot_key("p/", event) == "p/door/1970/01/01/00/abc.jpg"
    assert snapshot_key("", event, "_crop") == "door/1970/01/01/00/abc_crop.jpg"
