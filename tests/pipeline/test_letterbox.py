"""Letterbox geometry, pixels and the mapping of boxes back to the frame."""

from __future__ import annotations

import numpy as np
import pytest

from kvs_pool.pipeline.letterbox import PAD_VALUE, Letterboxer, LetterboxGeometry, letterbox


def test_wide_frame_is_scaled_to_width_and_padded_top_and_bottom() -> None:
    geo = LetterboxGeometry.fit(1280, 720, 416, 416)
    assert geo.scale == pytest.approx(416 / 1280)
    assert (geo.new_w, geo.new_h) == (416, 234)
    assert (geo.pad_x, geo.pad_y) == (0, 91)


def test_tall_frame_is_padded_left_and_right() -> None:
    geo = LetterboxGeometry.fit(300, 600, 320, 320)
    assert (geo.new_w, geo.new_h, geo.pad_x, geo.pad_y) == (160, 320, 80, 0)


def test_tensor_is_rgb_nchw_in_unit_range_with_grey_padding() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[..., 0] = 255                                  # pure blue in BGR
    tensor, geo = letterbox(frame, 64, 64)
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    top = geo.pad_y + geo.new_h // 2
    assert tensor[0, :, top, 32].tolist() == pytest.approx([0.0, 0.0, 1.0])   # R, G, B
    assert tensor[0, :, 0, 32].tolist() == pytest.approx([PAD_VALUE / 255] * 3)


def test_boxes_map_back_to_frame_pixels_and_are_clipped() -> None:
    geo = LetterboxGeometry.fit(1280, 720, 416, 416)
    r = geo.scale
    frame_box = np.array([[100.0, 200.0, 500.0, 600.0]])
    input_box = frame_box * r + np.array([geo.pad_x, geo.pad_y, geo.pad_x, geo.pad_y])
    assert geo.to_frame(input_box) == pytest.approx(frame_box, abs=1e-3)
    outside = np.array([[-10.0, 0.0, 430.0, 416.0]])
    assert geo.to_frame(outside).tolist() == [[0.0, 0.0, 1280.0, 720.0]]


def test_letterboxer_follows_a_change_of_frame_size() -> None:
    boxer = Letterboxer(64, 64)
    _, first = boxer(np.full((32, 64, 3), 255, np.uint8))
    tensor, second = boxer(np.full((64, 32, 3), 255, np.uint8))
    assert (first.pad_y, second.pad_x) == (16, 16)
    assert tensor[0, 0, 32, 0] == pytest.approx(PAD_VALUE / 255)   # old picture area repainted
    assert tensor[0, 0, 32, 32] == pytest.approx(1.0)
