"""Config sections -> pipeline step parameters: one explicit, typed function per section.

The pipeline package does not import the config (``docs/contracts.md``: imports point one way),
so the translation lives on the worker side, which imports both. Every parameter is passed by
keyword from a named config attribute: a field renamed on either side is a ``TypeError`` or an
``AttributeError`` when the worker starts, never a setting silently left at its default (the
earlier copy-by-matching-name did that). The fields of the pipeline sections that do not reach a
parameter object are listed, with where they go, in ``CONSUMED_ELSEWHERE``;
``tests/workers/test_pipeline_params.py`` fails when a config field is in neither.
"""

from __future__ import annotations

from pathlib import Path

from kvs_pool.config import (
    ConfirmConfig, MotionDetectorConfig, MotionGateConfig, PipelineConfig, RoiZone,
    YoloDetectorConfig,
)
from kvs_pool.pipeline import (
    CameraSetup, ConfirmParams, GateParams, MotionParams, YoloParams, Zone,
)

__all__ = [
    "CONSUMED_ELSEWHERE", "yolo_params", "motion_params", "gate_params", "zone",
    "confirm_params", "camera_setups",
]

CONSUMED_ELSEWHERE: dict[type, dict[str, str]] = {
    PipelineConfig: {
        "name": "Pipeline(name) and the worker's name (inference.worker_name)",
        "publishers": "inference: outbox and publish loop, build_renderer",
        "max_fps": "inference: least interval between two frames of one camera",
    },
    YoloDetectorConfig: {"type": "inference.build_detector: chooses YoloDetector"},
    MotionDetectorConfig: {"type": "inference.build_detector: chooses MotionDetector"},
}
"""Config fields of the pipeline sections that no function here maps, and who uses them
(``cameras``, ``roi`` and the sub-sections are mapped by ``camera_setups``)."""


def yolo_params(det: YoloDetectorConfig, cache_dir: Path) -> YoloParams:
    """The ``yolo`` detector's parameters; ``cache_dir`` when the config names none."""
    return YoloParams(
        model=det.model, input_size=det.input_size, classes=det.classes,
        confidence=det.confidence, nms_iou=det.nms_iou, threads=det.threads,
        layout=det.layout, class_names=det.class_names, max_detections=det.max_detections,
        cache_dir=det.cache_dir or str(cache_dir),
    )


def motion_params(det: MotionDetectorConfig) -> MotionParams:
    """The ``motion`` detector's parameters."""
    return MotionParams(min_area=det.min_area, label=det.label)


def gate_params(gate: MotionGateConfig) -> GateParams:
    """The motion gate's parameters."""
    return GateParams(
        enabled=gate.enabled, downscale_width=gate.downscale_width, threshold=gate.threshold,
        min_area=gate.min_area, history=gate.history, refresh_s=gate.refresh_s,
    )


def zone(roi: RoiZone) -> Zone:
    """One ROI zone, with its own anchor, coordinates and area bounds."""
    return Zone(
        name=roi.name, points=roi.points, mode=roi.mode, coords=roi.coords,
        anchor=roi.anchor, min_area=roi.min_area, max_area=roi.max_area,
    )


def confirm_params(confirm: ConfirmConfig) -> ConfirmParams:
    """Temporal confirmation's parameters."""
    return ConfirmParams(
        hits=confirm.hits, window=confirm.window, cooldown_s=confirm.cooldown_s,
        mode=confirm.mode, score_threshold=confirm.score_threshold,
        end_after_s=confirm.end_after_s, per_roi=confirm.per_roi,
    )


def camera_setups(pipe: PipelineConfig) -> list[CameraSetup]:
    """Per-camera gate, zones and confirmation (no gate when motion is the detector)."""
    gated = pipe.motion_gate.enabled and not isinstance(pipe.detector, MotionDetectorConfig)
    gate = gate_params(pipe.motion_gate) if gated else None
    confirm = confirm_params(pipe.confirm)
    return [CameraSetup(camera_id=cid, gate=gate, zones=tuple(zone(z) for z in pipe.zones(cid)),
                        confirm=confirm)
            for cid in pipe.cameras]
