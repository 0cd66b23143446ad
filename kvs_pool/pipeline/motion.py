"""The ``motion`` detector and the motion gate: background subtraction on a downscaled frame.

``MotionDetector`` runs OpenCV's MOG2 on a grey, blurred copy of the frame scaled to ``width``
pixels wide (its cost: ``benchmarks/detect.py``, docs/detection.md), cleans the mask with a dilation
and returns the boxes of the moving blobs larger than ``min_area`` (a fraction of the frame), in
frame pixels, labelled ``motion``. It is a ``Detector`` of its own, and the input of ``MotionGate``.

``MotionGate`` sits in front of any other detector: no motion → no inference (the caller counts
the skip). The first frame of a camera always passes (nothing is known yet), and so does one
frame every ``refresh_s`` seconds of frame time, so a scene that froze with an object in it (or
just without it) is looked at again and confirmation can end a presence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kvs_pool.pipeline.detection import Detection

__all__ = ["MotionParams", "MotionDetector", "GateParams", "GateDecision", "MotionGate"]

_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class MotionParams:
    """Background subtraction settings."""

    width: int = 320                # analysis width in pixels (height keeps the aspect ratio)
    threshold: float = 16.0         # MOG2 variance threshold (squared distance) for foreground
    min_area: float = 0.0005        # smallest blob, as a fraction of the frame area
    label: str = "motion"           # class name of the boxes when used as the detector
    history: int = 500              # frames the background model remembers
    blur: int = 5                   # Gaussian blur kernel (odd; 0 disables)


class MotionDetector:
    """MOG2 on a small grey frame; ``detect`` returns the moving regions as ``Detection``s."""

    name = "motion-mog2"

    def __init__(self, params: MotionParams | None = None) -> None:
        self.params = params or MotionParams()
        self._mog = cv2.createBackgroundSubtractorMOG2(
            history=self.params.history, varThreshold=self.params.threshold,
            detectShadows=False)
        self.frames = 0

    def _mask(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.params.width / w)
        small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        if self.params.blur:
            grey = cv2.GaussianBlur(grey, (self.params.blur, self.params.blur), 0)
        mask = self._mog.apply(grey)
        return cv2.dilate(mask, _KERNEL, iterations=2), scale

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Boxes of moving blobs in frame pixels; the first frame is all motion."""
        mask, scale = self._mask(frame)
        self.frames += 1
        h, w = frame.shape[:2]
        if self.frames == 1:
            return [Detection((0.0, 0.0, float(w), float(h)), 1.0, self.params.label)]
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_px = self.params.min_area * mask.shape[0] * mask.shape[1]
        out = []
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if bw * bh >= min_px:
                box = (x / scale, y / scale, min((x + bw) / scale, w), min((y + bh) / scale, h))
                out.append(Detection(box, 1.0, self.params.label))
        return out

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class GateParams:
    """Motion gate settings (``config.MotionGateConfig``, mapped by ``workers.params``)."""

    enabled: bool = True
    downscale_width: int = 320
    threshold: float = 16.0
    min_area: float = 0.0005
    history: int = 500
    refresh_s: float | None = 10.0    # let a frame through at least this often; None: never

    def motion(self) -> MotionParams:
        """The background-subtraction settings of the gate."""
        return MotionParams(width=self.downscale_width, threshold=self.threshold,
                            min_area=self.min_area, history=self.history)


@dataclass(frozen=True)
class GateDecision:
    """Whether to run the detector on this frame, why, and the motion boxes seen."""

    run: bool
    reason: str                      # "motion", "first", "refresh", "static", "disabled"
    boxes: tuple[Detection, ...] = ()


class MotionGate:
    """Decides per frame whether the detector behind it runs."""

    def __init__(self, params: GateParams | None = None) -> None:
        self.params = params or GateParams()
        self.motion = MotionDetector(self.params.motion())
        self._last_pass: float | None = None

    def check(self, frame: np.ndarray, frame_ts: float) -> GateDecision:
        """Feed the frame to the background model; pass it on motion, first frame or refresh."""
        if not self.params.enabled:
            return GateDecision(True, "disabled")
        boxes = tuple(self.motion.detect(frame))
        if self.motion.frames == 1:
            reason = "first"
        elif boxes:
            reason = "motion"
        elif (self.params.refresh_s is not None and self._last_pass is not None
              and frame_ts - self._last_pass >= self.params.refresh_s):
            reason = "refresh"
        else:
            return GateDecision(False, "static")
        self._last_pass = frame_ts
        return GateDecision(True, reason, boxes)
