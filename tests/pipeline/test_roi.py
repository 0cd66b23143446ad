"""ROI geometry: anchors, include/exclude zones, coordinate units and area bounds."""

from __future__ import annotations

import pytest

from kvs_pool.pipeline.detection import Detection
from kvs_pool.pipeline.roi import RoiFilter, Zone, anchor_point

W, H = 200, 100
LOWER_HALF = Zone("porch", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))


def det(box: tuple[float, float, float, float], label: str = "person") -> Detection:
    return Detection(box, 0.9, label)


def test_anchor_points() -> None:
    box = (10.0, 20.0, 30.0, 60.0)
    assert anchor_point(box, "bottom_center") == (20.0, 60.0)
    assert anchor_point(box, "center") == (20.0, 40.0)
    assert anchor_point(box, "top_center") == (20.0, 20.0)
    assert anchor_point(box, "bottom_left") == (10.0, 60.0)


def test_bottom_centre_decides_not_the_box() -> None:
    roi = RoiFilter([LOWER_HALF])
    feet_in = det((90, 10, 110, 60))          # mostly above the zone, feet inside
    head_only = det((90, 40, 110, 49))        # overlaps nothing below y=50
    kept = roi.apply([feet_in, head_only], W, H)
    assert kept == [feet_in.in_roi("porch")]


def test_centre_anchor_is_configurable() -> None:
    zone = Zone("porch", LOWER_HALF.points, anchor="center")
    assert RoiFilter([zone]).apply([det((90, 10, 110, 60))], W, H) == []


def test_edge_counts_as_inside() -> None:
    assert RoiFilter([LOWER_HALF]).apply([det((90, 30, 110, 50))], W, H)[0].roi == "porch"


def test_exclude_wins_over_include_and_works_alone() -> None:
    tree = Zone("tree", ((0, 0), (50, 0), (50, 100), (0, 100)), mode="exclude", coords="pixels")
    under_tree, elsewhere = det((10, 60, 20, 80)), det((100, 60, 120, 80))
    assert RoiFilter([LOWER_HALF, tree]).apply([under_tree, elsewhere], W, H) == [
        elsewhere.in_roi("porch")]
    assert RoiFilter([tree]).apply([under_tree, elsewhere], W, H) == [elsewhere]


def test_first_matching_include_zone_tags_the_detection() -> None:
    left = Zone("left", ((0, 0), (0.5, 0), (0.5, 1), (0, 1)))
    right = Zone("right", ((0.5, 0), (1, 0), (1, 1), (0.5, 1)))
    found = RoiFilter([left, right]).apply([det((10, 10, 20, 20)), det((150, 10, 170, 20))], W, H)
    assert [d.roi for d in found] == ["left", "right"]


def test_pixel_and_normalised_zones_agree_and_follow_frame_size() -> None:
    pixels = Zone("porch", ((0, 50), (200, 50), (200, 100), (0, 100)), coords="pixels")
    d = det((90, 10, 110, 60))
    assert RoiFilter([pixels]).apply([d], W, H) == RoiFilter([LOWER_HALF]).apply([d], W, H)
    normalised = RoiFilter([LOWER_HALF])
    assert normalised.apply([d], W, H)
    assert normalised.apply([d], 2 * W, 2 * H) == []        # same box, frame twice as big


def test_area_bounds_in_zone_units() -> None:
    small, big = det((10, 60, 20, 70)), det((10, 55, 110, 95))     # 100 px², 4000 px²
    frac = Zone("porch", LOWER_HALF.points, min_area=0.01, max_area=0.1)   # 200..2000 px²
    assert RoiFilter([frac]).apply([small, big, det((10, 60, 40, 90))], W, H) == [
        det((10, 60, 40, 90)).in_roi("porch")]
    px = Zone("porch", ((0, 50), (200, 50), (200, 100), (0, 100)), coords="pixels", min_area=500)
    assert RoiFilter([px]).apply([small, big], W, H) == [big.in_roi("porch")]


def test_no_zones_passes_everything_and_bad_zones_are_refused() -> None:
    assert RoiFilter().apply([det((0, 0, 1, 1))], W, H) == [det((0, 0, 1, 1))]
    with pytest.raises(ValueError, match="3 points"):
        Zone("line", ((0, 0), (1, 1)))
    with pytest.raises(ValueError, match="anchor"):
        Zone("z", LOWER_HALF.points, anchor="feet")
