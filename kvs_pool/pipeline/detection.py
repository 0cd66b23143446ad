"""What every detector returns and the interface it offers: a box in frame pixels with a score.

A detector is any object with ``detect(frame) -> list[Detection]`` and a ``name`` (the model id
written into events). Boxes are ``(x1, y1, x2, y2)`` floats in the pixels of the frame given to
``detect``, whatever the detector did internally (downscale, letterbox).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

__all__ = ["Detection", "Detector", "detections_from_arrays"]


@dataclass(frozen=True)
class Detection:
    """One object found in one frame; ``roi`` is set by the ROI filter (None: no zone)."""

    box: tuple[float, float, float, float]
    score: float
    label: str
    class_id: int = -1
    roi: str | None = None

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        x1, y1, x2, y2 = self.box
        return max(x2 - x1, 0.0) * max(y2 - y1, 0.0)

    def in_roi(self, name: str | None) -> Detection:
        """A copy tagged with the zone it was found in."""
        return replace(self, roi=name)


class Detector(Protocol):
    """Finds objects in a BGR ``uint8`` frame of shape (h, w, 3)."""

    name: str

    def detect(self, frame: np.ndarray) -> list[Detection]: ...

    def close(self) -> None: ...


def detections_from_arrays(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                           names: list[str]) -> list[Detection]:
    """Turn parallel arrays (n×4 boxes, n scores, n class ids) into ``Detection`` objects."""
    out = []
    for box, score, cid in zip(boxes.tolist(), scores.tolist(), class_ids.tolist()):
        label = names[cid] if 0 <= cid < len(names) else str(cid)
        out.append(Detection((box[0], box[1], box[2], box[3]), float(score), label, int(cid)))
    return out
