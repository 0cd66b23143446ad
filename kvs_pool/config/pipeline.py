"""Pipeline sections: which cameras feed which detector, through which zones, to which sinks.

A pipeline is motion gate -> detector -> ROI filter -> temporal confirmation -> publishers.
``detector`` is discriminated by ``type`` (``motion`` or ``yolo``). To add a setting, add one
``setting(...)`` line to the dataclass; to add a detector, a dataclass with
``type: Literal["<name>"]`` and its name in ``DetectorConfig``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from kvs_pool.config.camera import valid_name
from kvs_pool.config.extras import missing_extra
from kvs_pool.config.publish import PublisherConfig
from kvs_pool.config.schema import at_least, between, greater_than, not_empty, setting

BUILTIN_MODELS = ("yolov3-tiny",)
"""Model names the pipeline resolves itself (mirrors ``kvs_pool.pipeline.models``)."""

__all__ = [
    "MotionGateConfig", "MotionDetectorConfig", "YoloDetectorConfig", "DetectorConfig",
    "RoiZone", "ConfirmConfig", "PipelineConfig",
]


def _multiple_of_32(value: int) -> str | None:
    if 32 <= value <= 2048 and value % 32 == 0:
        return None
    return f"must be a multiple of 32 between 32 and 2048 (got {value})"


@dataclass(frozen=True, kw_only=True)
class MotionGateConfig:
    """Background subtraction on a downscaled frame; the detector runs only on motion."""

    enabled: bool = True
    downscale_width: int = setting(320, check=between(32, 1920))
    threshold: float = setting(16.0, check=greater_than(0), doc="MOG2 variance threshold")
    min_area: float = setting(0.0005, check=between(0, 1), doc="smallest blob, fraction of frame")
    history: int = setting(500, check=at_least(1), doc="frames the background model remembers")
    refresh_s: float | None = setting(10.0, check=greater_than(0),
                                      doc="let a frame through at least this often; null: never")


@dataclass(frozen=True, kw_only=True)
class MotionDetectorConfig:
    """Motion alone as the detector: each moving region is a detection of class ``label``."""

    type: Literal["motion"] = "motion"
    min_area: float = setting(0.005, check=between(0, 1), doc="fraction of the frame")
    label: str = setting("motion", check=not_empty)


@dataclass(frozen=True, kw_only=True)
class YoloDetectorConfig:
    """A YOLO-family ONNX model run by onnxruntime."""

    type: Literal["yolo"] = "yolo"
    model: str = setting("yolov3-tiny", kind="file", names=BUILTIN_MODELS,
                         doc="a built-in name, an .onnx file or a Darknet .cfg")
    input_size: int | None = setting(None, check=_multiple_of_32, doc="null: the model's own")
    classes: tuple[str | int, ...] = setting((), doc="names or ids kept; empty: all")
    confidence: float = setting(0.25, check=between(0, 1))
    nms_iou: float = setting(0.45, check=between(0, 1))
    threads: int = setting(2, check=between(1, 64), doc="onnxruntime intra-op threads")
    class_names: str | None = setting(None, kind="file", doc="one name per line; default COCO")
    layout: Literal["auto", "v5", "v8"] = "auto"
    max_detections: int = setting(100, check=at_least(1))
    cache_dir: str | None = setting(None, kind="path", doc="where converted Darknet models go")

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from self._installed()
        for index, item in enumerate(self.classes):
            if isinstance(item, int) and item < 0:
                yield f"classes[{index}]", f"class ids are >= 0 (got {item})"
            if isinstance(item, str) and not item.strip():
                yield f"classes[{index}]", "empty class name"

    def _installed(self) -> Iterator[tuple[str, str]]:
        """onnxruntime always; onnx too when the model is converted from Darknet."""
        reason = missing_extra("onnxruntime", "detect", "the yolo detector")
        if reason is None and (self.model in BUILTIN_MODELS or self.model.endswith(".cfg")):
            reason = missing_extra("onnx", "detect", f"converting the Darknet model {self.model}")
        if reason:
            yield "type", reason


DetectorConfig = MotionDetectorConfig | YoloDetectorConfig


@dataclass(frozen=True, kw_only=True)
class RoiZone:
    """A polygon; a detection counts when its anchor point is inside (include) or not (exclude)."""

    name: str = setting(check=not_empty)
    points: tuple[tuple[float, float], ...] = setting()
    mode: Literal["include", "exclude"] = "include"
    coords: Literal["normalized", "pixels"] = "normalized"
    anchor: Literal["bottom_center", "center"] = "bottom_center"
    min_area: float | None = setting(None, check=greater_than(0), doc="box area, same units")
    max_area: float | None = setting(None, check=greater_than(0))

    def validate(self) -> Iterator[tuple[str, str]]:
        if len(self.points) < 3:
            yield "points", f"a polygon needs at least 3 points (got {len(self.points)})"
        high = 1.0 if self.coords == "normalized" else float("inf")
        for index, (x, y) in enumerate(self.points):
            if not (0 <= x <= high and 0 <= y <= high):
                bounds = "between 0 and 1 (coords: normalized)" if high == 1 else ">= 0"
                yield f"points[{index}]", f"coordinates must be {bounds} (got [{x:g}, {y:g}])"
        if len(self.points) >= 3 and _area(self.points) == 0:
            yield "points", "the polygon has no area (points on one line)"
        if self.min_area and self.max_area and self.min_area > self.max_area:
            yield "min_area", f"must not exceed max_area ({self.min_area:g} > {self.max_area:g})"


def _area(points: tuple[tuple[float, float], ...]) -> float:
    """Polygon area by the shoelace formula."""
    pairs = zip(points, points[1:] + points[:1])
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairs)) / 2


@dataclass(frozen=True, kw_only=True)
class ConfirmConfig:
    """An object is confirmed after ``hits`` in ``window`` frames (or by median score)."""

    hits: int = setting(3, check=at_least(1))
    window: int = setting(5, check=at_least(1))
    cooldown_s: float = setting(10.0, check=at_least(0), doc="one presence, one event")
    mode: Literal["hits", "median"] = "hits"
    score_threshold: float = setting(0.5, check=between(0, 1), doc="for mode: median")
    end_after_s: float = setting(10.0, check=greater_than(0), doc="absent this long: end event")
    per_roi: bool = setting(False, doc="confirm each (class, ROI zone) on its own")

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.hits > self.window:
            yield "hits", f"must not exceed window ({self.hits} > {self.window})"


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """One inference pipeline over some cameras."""

    name: str = setting(check=valid_name)
    cameras: tuple[str, ...] = setting(check=not_empty)
    motion_gate: MotionGateConfig = setting(factory=MotionGateConfig)
    detector: DetectorConfig = setting(factory=MotionDetectorConfig)
    roi: dict[str, tuple[RoiZone, ...]] = setting(factory=dict, doc="camera id -> zones")
    confirm: ConfirmConfig = setting(factory=ConfirmConfig)
    publishers: tuple[PublisherConfig, ...] = ()
    max_fps: float | None = setting(None, check=greater_than(0), doc="per camera; null: every new frame")

    def validate(self) -> Iterator[tuple[str, str]]:
        for index, camera in enumerate(self.cameras):
            if camera in self.cameras[:index]:
                yield f"cameras[{index}]", f"camera {camera!r} listed twice"
        for camera, zones in self.roi.items():
            if camera not in self.cameras:
                yield f"roi.{camera}", f"camera {camera!r} is not in this pipeline's cameras"
            names = [zone.name for zone in zones]
            for index, name in enumerate(names):
                if name in names[:index]:
                    yield f"roi.{camera}[{index}].name", f"duplicate zone name {name!r}"

    def zones(self, camera_id: str) -> tuple[RoiZone, ...]:
        """The ROI zones of one camera (empty: the whole frame)."""
        return self.roi.get(camera_id, ())
