"""BGRConverter: libswscale straight into the caller's buffer, byte for byte what PyAV's
``to_ndarray(format="bgr24")`` gives, and PyAV's path for anything it does not accept."""

from __future__ import annotations

import av
import numpy as np
import pytest

from kvs_pool.sources.swscale import BGRConverter

H, W = 72, 128


def _frame(fmt: str, colorspace: int, color_range: int, seed: int = 1) -> av.VideoFrame:
    """A frame of random samples (every code of every plane) tagged as asked."""
    rng = np.random.default_rng(seed)
    if fmt in ("yuv420p", "yuvj420p"):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (H * 3 // 2, W), np.uint8),
                                           format=fmt)
    else:
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (H, W, 3), np.uint8),
                                           format=fmt)
    frame.colorspace, frame.color_range = colorspace, color_range
    return frame


class Lender:
    """Lends one preallocated buffer (a ring slot stand-in) and records the shapes asked."""

    def __init__(self, shape: tuple[int, int, int] = (H, W, 3)) -> None:
        self.buffer = np.zeros(shape, np.uint8)
        self.asked: list[tuple[int, int, int]] = []

    def __call__(self, h: int, w: int, c: int) -> np.ndarray:
        self.asked.append((h, w, c))
        return self.buffer


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p"])
@pytest.mark.parametrize("colorspace", [2, 5, 6, 1])      # unspecified, BT.601 x2, BT.709
@pytest.mark.parametrize("color_range", [0, 1, 2])        # unspecified, MPEG, JPEG
def test_converts_into_the_buffer_exactly_as_pyav(fmt: str, colorspace: int,
                                                  color_range: int) -> None:
    converter = BGRConverter()
    frame = _frame(fmt, colorspace, color_range)
    lender = Lender()
    out = converter.convert(frame, lender)
    assert out is lender.buffer and lender.asked == [(H, W, 3)]
    assert np.array_equal(out, frame.to_ndarray(format="bgr24"))
    assert (converter.fast, converter.slow) == (1, 0)
    converter.close()


def test_tags_change_the_result_so_each_case_above_is_a_real_check() -> None:
    base = _frame("yuv420p", 2, 0).to_ndarray(format="bgr24")
    for colorspace, color_range in [(1, 0), (2, 2)]:
        other = _frame("yuv420p", colorspace, color_range).to_ndarray(format="bgr24")
        assert not np.array_equal(base, other)


def test_one_converter_follows_tag_and_size_changes() -> None:
    converter = BGRConverter()
    for fmt, colorspace, color_range in [("yuv420p", 2, 0), ("yuv420p", 1, 0),
                                         ("yuvj420p", 2, 2), ("yuv420p", 2, 0)]:
        frame = _frame(fmt, colorspace, color_range, seed=colorspace)
        assert np.array_equal(converter.convert(frame, Lender()), frame.to_ndarray(format="bgr24"))
    small = av.VideoFrame.from_ndarray(np.full((36 * 3 // 2, 64), 128, np.uint8), format="yuv420p")
    out = converter.convert(small, Lender((36, 64, 3)))
    assert np.array_equal(out, small.to_ndarray(format="bgr24"))
    assert converter.fast == 5


def test_other_formats_take_pyavs_path_into_the_buffer() -> None:
    converter = BGRConverter()
    frame = _frame("rgb24", 2, 0)
    lender = Lender()
    out = converter.convert(frame, lender)
    assert out is lender.buffer and np.array_equal(out, frame.to_ndarray(format="bgr24"))
    assert (converter.fast, converter.slow) == (0, 1)


def test_a_buffer_that_does_not_fit_gives_a_new_array() -> None:
    converter = BGRConverter()
    frame = _frame("yuv420p", 2, 0)
    lender = Lender((H, W + 2, 3))
    out = converter.convert(frame, lender)
    assert out is not lender.buffer and out.shape == (H, W, 3)
    assert np.array_equal(out, frame.to_ndarray(format="bgr24"))
    assert not lender.buffer.any()
