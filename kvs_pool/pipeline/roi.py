"""ROI filtering: keep the detections whose anchor point lies in the camera's zones.

A zone is a named polygon, ``include`` or ``exclude``, in ``normalized`` (0..1, fractions of the
frame) or ``pixels`` coordinates, with the anchor point it tests (``bottom_center`` by default:
where a person or car touches the ground; or ``center``) and optional box-area bounds in the same
units (a fraction of the frame area, or square pixels).

A zone *holds* a detection when the detection's anchor is inside the polygon (points on an edge
count as inside) and its box area is within the zone's bounds. A detection passes when no
exclude zone holds it and, if the camera has include zones, one of them does; it is tagged with
the first include zone that holds it (``roi``). With no include zones it passes untagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kvs_pool.pipeline.detection import Detection

__all__ = ["Zone", "RoiFilter", "ANCHORS", "anchor_point"]

_X = {"left": 0.0, "center": 0.5, "right": 1.0}
_Y = {"top": 0.0, "center": 0.5, "bottom": 1.0}
ANCHORS = ("bottom_center", "center", "top_center", "bottom_left", "bottom_right")


@dataclass(frozen=True)
class Zone:
    """One named polygon and the rule it applies, each zone its own anchor, coordinates and
    area bounds (``config.RoiZone``, mapped by ``workers.params``)."""

    name: str
    points: tuple[tuple[float, float], ...]
    mode: str = "include"                   # include | exclude
    coords: str = "normalized"              # normalized | pixels
    anchor: str = "bottom_center"
    min_area: float | None = None
    max_area: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("include", "exclude") or self.coords not in ("normalized", "pixels"):
            raise ValueError(f"roi zone {self.name!r}: bad mode {self.mode!r} or coords {self.coords!r}")
        if self.anchor not in ANCHORS:
            raise ValueError(f"roi zone {self.name!r}: anchor {self.anchor!r} not in {ANCHORS}")
        if len(self.points) < 3:
            raise ValueError(f"roi zone {self.name!r}: a polygon needs at least 3 points")


def anchor_point(box: tuple[float, float, float, float], anchor: str) -> tuple[float, float]:
    """The point of ``box`` named by ``anchor`` (``bottom_center``, ``center``...)."""
    y_name, x_name = ("center", "center") if anchor == "center" else anchor.split("_", 1)
    x1, y1, x2, y2 = box
    return x1 + (x2 - x1) * _X[x_name], y1 + (y2 - y1) * _Y[y_name]


@dataclass(frozen=True)
class _PixelZone:
    """A zone converted to the pixels of one frame size."""

    zone: Zone
    contour: np.ndarray
    min_area: float
    max_area: float

    @classmethod
    def of(cls, zone: Zone, width: int, height: int) -> _PixelZone:
        pts = np.asarray(zone.points, np.float32)
        unit = 1.0
        if zone.coords == "normalized":
            pts, unit = pts * np.array([width, height], np.float32), float(width * height)
        lo = (zone.min_area or 0.0) * unit
        hi = zone.max_area * unit if zone.max_area is not None else float("inf")
        return cls(zone, pts.reshape(-1, 1, 2), lo, hi)

    def holds(self, det: Detection) -> bool:
        if not self.min_area <= det.area <= self.max_area:
            return False
        point = anchor_point(det.box, self.zone.anchor)
        return cv2.pointPolygonTest(self.contour, point, False) >= 0


class RoiFilter:
    """Applies one camera's zones; their pixel form is cached per frame size."""

    def __init__(self, zones: tuple[Zone, ...] | list[Zone] = ()) -> None:
        self.zones = tuple(zones)
        self._size: tuple[int, int] | None = None
        self._include: list[_PixelZone] = []
        self._exclude: list[_PixelZone] = []

    def _prepare(self, width: int, height: int) -> None:
        if self._size != (width, height):
            pixel = [_PixelZone.of(z, width, height) for z in self.zones]
            self._include = [p for p in pixel if p.zone.mode == "include"]
            self._exclude = [p for p in pixel if p.zone.mode == "exclude"]
            self._size = (width, height)

    def apply(self, detections: list[Detection], width: int, height: int) -> list[Detection]:
        """The detections that count, each tagged with its include zone (or None)."""
        if not self.zones:
            return list(detections)
        self._prepare(width, height)
        out = []
        for det in detections:
            if any(z.holds(det) for z in self._exclude):
                continue
            if not self._include:
                out.append(det)
                continue
            zone = next((z for z in self._include if z.holds(det)), None)
            if zone is not None:
                out.append(det.in_roi(zone.zone.name))
        return out
