"""JPEG snapshots for events: the frame with the event's box(es) drawn, and the raw crop.

The one implementation of event images: the inference worker's renderer
(``workers.inference.build_renderer``) calls ``render_snapshot(frame, event)`` (and
``render_crop`` when configured) on the frame the pipeline detected in; the pipeline then calls
``sink.emit(event, jpeg)``. Boxes are ``event["box"]`` and/or ``event["boxes"]`` (lists of
``[x1, y1, x2, y2]`` in frame pixels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from kvs_pool.errors import PublishError

__all__ = ["render_snapshot", "render_crop"]

_COLOUR = (0, 255, 0)   # BGR


def _boxes(event: Mapping[str, Any], shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    raw = ([event["box"]] if event.get("box") else []) + list(event.get("boxes") or [])
    height, width = shape[:2]
    boxes = []
    for box in raw:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
        x1, x2 = sorted((min(max(x1, 0), width - 1), min(max(x2, 0), width - 1)))
        y1, y2 = sorted((min(max(y1, 0), height - 1), min(max(y2, 0), height - 1)))
        boxes.append((x1, y1, x2, y2))
    return boxes


def _encode(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise PublishError(f"JPEG encoding failed for an image of shape {image.shape}")
    return buf.tobytes()


def render_snapshot(frame: np.ndarray, event: Mapping[str, Any], quality: int = 85) -> bytes:
    """JPEG of a copy of ``frame`` (BGR uint8) with each box and a ``class score`` label."""
    image = np.ascontiguousarray(frame).copy()
    thickness = max(2, image.shape[1] // 400)
    label = f"{event.get('class', '')} {float(event.get('score') or 0):.2f}".strip()
    for x1, y1, x2, y2 in _boxes(event, image.shape):
        cv2.rectangle(image, (x1, y1), (x2, y2), _COLOUR, thickness)
        cv2.putText(image, label, (x1, max(y1 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, image.shape[1] / 1600), _COLOUR, max(1, thickness // 2),
                    cv2.LINE_AA)
    return _encode(image, quality)


def render_crop(frame: np.ndarray, event: Mapping[str, Any], quality: int = 90) -> bytes | None:
    """JPEG of the raw pixels inside the event's first box, or None if it has no box."""
    boxes = _boxes(event, frame.shape)
    if not boxes:
        return None
    x1, y1, x2, y2 = boxes[0]
    return _encode(np.ascontiguousarray(frame[y1:y2 + 1, x1:x2 + 1]), quality)
