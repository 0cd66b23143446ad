"""Decode the raw output of YOLO-family models into boxes, scores and class ids.

Two output layouts exist in the wild (B = batch 1, N = candidate boxes, C = classes):

| layout | shape | row of one candidate |
| --- | --- | --- |
| ``v5`` (YOLOv5, v7, our converted Darknet YOLOv3) | (1, N, 5 + C) | cx, cy, w, h, objectness, C scores |
| ``v8`` (YOLOv8, v11) | (1, 4 + C, N) | cx, cy, w, h, C class scores (no objectness) |

Coordinates are in model-input pixels. The score of a candidate is ``objectness × class score``
(v5) or the class score (v8); only the best class among the allowed ones is kept. ``auto``
picks the layout from the shape and the number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvs_pool.errors import DetectorError

__all__ = ["Candidates", "decode", "detect_layout", "nms", "LAYOUTS"]

LAYOUTS = ("auto", "v5", "v8")
_Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]   # xywh rows, best class, score


@dataclass(frozen=True)
class Candidates:
    """Decoded candidates before NMS: n×4 xyxy boxes (input pixels), n scores, n class ids."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, index: np.ndarray) -> Candidates:
        """The candidates at ``index`` (an index array or boolean mask)."""
        return Candidates(self.boxes[index], self.scores[index], self.class_ids[index])


def detect_layout(shape: tuple[int, ...], num_classes: int | None) -> str:
    """``v5`` or ``v8`` for an output of ``shape``; raises ``DetectorError`` when neither fits."""
    if len(shape) != 3 or shape[0] != 1:
        raise DetectorError(f"model output of shape {shape}: expected (1, N, 5+C) or (1, 4+C, N)")
    rows, cols = shape[1], shape[2]
    if num_classes:
        if cols == 5 + num_classes:
            return "v5"
        if rows == 4 + num_classes:
            return "v8"
        raise DetectorError(f"model output of shape {shape} fits neither (1, N, {5 + num_classes})"
                            f" nor (1, {4 + num_classes}, N) for {num_classes} class names")
    return "v8" if rows < cols else "v5"


def _xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def _best_class(cls: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    best = cls.argmax(axis=axis)
    return best, np.take_along_axis(cls, np.expand_dims(best, axis), axis=axis).squeeze(axis)


def _decode_v5(raw: np.ndarray, conf: float, allowed: np.ndarray | None) -> _Decoded:
    rows = raw[raw[:, 4] >= conf]       # objectness bounds the score: a cheap pre-filter
    cls = rows[:, 5:] if allowed is None else rows[:, 5:][:, allowed]
    best, scores = _best_class(cls, axis=1)
    return rows[:, :4], best, scores * rows[:, 4]


def _decode_v8(raw: np.ndarray, conf: float, allowed: np.ndarray | None) -> _Decoded:
    cls = raw[4:] if allowed is None else raw[4:][allowed]
    best, scores = _best_class(cls, axis=0)     # along classes, rows stay contiguous
    return raw[:4].T, best, scores


def decode(output: np.ndarray, layout: str, conf: float,
           allowed: np.ndarray | None = None) -> Candidates:
    """Candidates of ``output`` scoring ≥ ``conf``; ``allowed`` restricts to those class ids."""
    if layout not in ("v5", "v8"):
        raise DetectorError(f"unknown output layout {layout!r}; expected one of {LAYOUTS[1:]}")
    step = _decode_v5 if layout == "v5" else _decode_v8
    xywh, best, scores = step(output[0], conf, allowed)
    keep = scores >= conf
    ids = best[keep] if allowed is None else allowed[best[keep]]
    boxes = _xywh_to_xyxy(np.ascontiguousarray(xywh[keep], dtype=np.float32))
    return Candidates(boxes, scores[keep].astype(np.float32), ids.astype(np.int64))


def _iou_one(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    iou: np.ndarray = inter / np.maximum(area + areas - inter, 1e-9)
    return iou


def nms(cands: Candidates, iou: float, max_det: int = 100) -> Candidates:
    """Greedy per-class non-maximum suppression; the kept candidates, best score first."""
    if len(cands) == 0:
        return cands
    # Shift each class into its own region of the plane so one pass never mixes classes.
    offset = cands.class_ids[:, None].astype(np.float32) * (float(cands.boxes.max()) + 1.0)
    boxes = cands.boxes + offset
    order = np.argsort(-cands.scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[_iou_one(boxes[best], boxes[rest]) <= iou]
    return cands.take(np.asarray(keep, dtype=np.int64))
