"""URLFrameSource pacing of live HTTP HLS, end to end: real boto3 -> the loopback KVS emulator
(25 fps, fragments of 1 s) -> FFmpeg's HLS demuxer (cv2 or PyAV) -> paced frames.

Unpaced, FFmpeg decodes a whole fragment at once (bursts of 5 frames at 5 fps); paced, frames
leave at the stream's rate, a ring slot is taken only when its frame is due, the worker's
progress hook keeps being called while the source sleeps, and stop ends a sleep at once.
Bounds are loose: the machine is shared.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import boto3
import numpy as np
import pytest

from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec
from kvs_pool.sources.base import SourceControl
from kvs_pool.sources.pacing import Pacer
from kvs_pool.sources.url import PACE_CATCH_UP, PACE_HORIZON_S, URLFrameSource, URLSourceOptions

STREAM = "cam-url"
FPS, GOP = 25, 25            # fragments of 1 s


@pytest.fixture
def live_url(aws_env: None) -> Iterator[str]:
    """A live HLS session URL of an emulator stream (GetHLSStreamingSessionURL via boto3)."""
    spec = StreamSpec(STREAM, width=320, height=180, fps=FPS, gop=GOP, seconds=4)
    with EmulatorServer(EmulatorConfig(streams=(spec,), idle_window_s=30.0)) as emu:
        video = boto3.client("kinesisvideo", endpoint_url=emu.base_url, region_name="us-east-1")
        endpoint = video.get_data_endpoint(
            StreamName=STREAM, APIName="GET_HLS_STREAMING_SESSION_URL")["DataEndpoint"]
        media = boto3.client("kinesis-video-archived-media", endpoint_url=endpoint,
                             region_name="us-east-1")
        yield media.get_hls_streaming_session_url(
            StreamName=STREAM, PlaybackMode="LIVE", ContainerFormat="FRAGMENTED_MP4",
            Expires=600)["HLSStreamingSessionURL"]


@dataclass
class Yielded:
    mono: float          # when the source yielded the frame
    loaned_at: float     # when it asked for the buffer
    loaned: bool         # the yielded array is the lent buffer


def read(source: URLFrameSource, count: int, timeout: float = 60.0) -> list[Yielded]:
    """``count`` frames with the time each was yielded and its buffer lent."""
    loans: list[tuple[np.ndarray, float]] = []

    def lend(h: int, w: int, c: int) -> np.ndarray:
        loans.append((np.empty((h, w, c), np.uint8), time.monotonic()))
        return loans[-1][0]

    seen: list[Yielded] = []
    guard = threading.Timer(timeout, source.control.stop.set)
    guard.start()
    try:
        with source, closing(source.read_frames(into=lend)) as frames:
            for array, _ts in frames:
                seen.append(Yielded(time.monotonic(), loans[-1][1], array is loans[-1][0]))
                if len(seen) >= count:
                    return seen
    finally:
        guard.cancel()
    pytest.fail(f"{len(seen)} of {count} frames in {timeout} s; stats {source.stats}")


def gaps(seen: list[Yielded]) -> list[float]:
    return [b.mono - a.mono for a, b in zip(seen, seen[1:])]


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


@pytest.mark.parametrize(("target_fps", "backend", "count"),
                         [(5.0, "auto", 16), (5.0, "cv2", 16), (None, "auto", 60)],
                         ids=["5fps-pyav", "5fps-cv2", "every-frame-cv2"])
def test_paced_frames_leave_at_the_stream_rate(live_url: str, target_fps: float | None,
                                               backend: str, count: int) -> None:
    source = URLFrameSource(live_url, URLSourceOptions(target_fps=target_fps, backend=backend))
    seen = read(source, count)
    interval = 1 / (target_fps or FPS)
    spacing = gaps(seen)
    assert 0.5 * interval <= median(spacing) <= 2 * interval, spacing
    assert min(spacing) >= 0.010, spacing                  # never two frames at once
    assert all(s.loaned for s in seen)
    # the slot is lent only once its frame is due, not a pacing wait before it is yielded
    assert max(s.mono - s.loaned_at for s in seen) < min(0.5 * interval, 0.05)


def test_unpaced_frames_come_in_bursts_of_a_fragment(live_url: str) -> None:
    source = URLFrameSource(live_url, URLSourceOptions(target_fps=5.0, pace=False))
    spacing = gaps(read(source, 16))
    assert median(spacing) < 0.05, spacing                  # paced, it would be 0.2 s
    assert sum(g < 0.010 for g in spacing) >= 6, spacing   # several frames of a fragment at once


def test_progress_is_reported_and_stop_honoured_while_pacing(live_url: str) -> None:
    beats: list[float] = []
    control = SourceControl(on_progress=lambda: beats.append(time.monotonic()))
    source = URLFrameSource(live_url, URLSourceOptions(target_fps=0.5), control)   # 2 s apart
    frames: list[float] = []
    stop_at: list[float] = []
    guard = threading.Timer(60, control.stop.set)
    guard.start()
    try:
        with source, closing(source.read_frames()) as stream:
            for _frame, _ts in stream:
                frames.append(time.monotonic())
                if len(frames) == 4:     # stop while the source sleeps before the next frame
                    stop_at.append(time.monotonic() + 0.3)
                    threading.Timer(0.3, control.stop.set).start()
    finally:
        guard.cancel()
    ended = time.monotonic()
    assert len(frames) == 4 and stop_at, (frames, source.stats)
    assert ended - stop_at[0] < 1.5
    assert median(gaps([Yielded(f, f, True) for f in frames])) >= 1.0   # paced, not a burst
    edges = [frames[0], *(b for b in beats if frames[0] <= b <= frames[-1]), frames[-1]]
    assert max(b - a for a, b in zip(edges, edges[1:])) < 1.5, (frames, beats)


def test_the_url_sources_gentler_catch_up_never_exceeds_its_rate(fake_time) -> None:
    # FakeTime (conftest): a clock only the pacer's sleeps advance.
    pacer = Pacer(SourceControl(clock=fake_time.clock, sleep=fake_time.sleep), PACE_CATCH_UP)
    for t in (100.0, 100.2):
        assert pacer.wait_for(t, PACE_HORIZON_S)
    fake_time.now += 0.6                          # the next fragment came 0.4 s late
    out = []
    for n in range(2, 22):          # 0.4 s repaid at 0.04 s a frame
        assert pacer.wait_for(100 + n * 0.2, PACE_HORIZON_S)
        out.append(fake_time.now)
    spacing = [round(b - a, 6) for a, b in zip(out, out[1:])]
    assert min(spacing) == pytest.approx(0.2 / PACE_CATCH_UP)     # caught up, gently
    assert spacing[-1] == pytest.approx(0.2)                       # debt repaid
    assert pacer.reanchors == 0
    with pytest.raises(ValueError, match="catch_up"):
        Pacer(SourceControl(), catch_up=1.0)
