"""URLFrameSource on real H.264: files (order, sampling, loop, pacing), HTTP HLS served on
127.0.0.1, a server that never answers (bounded timeouts), a refused port (backoff schedule on
an injected clock), stop and the connection states."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from kvs_pool.backoff import Backoff, BackoffPolicy
from kvs_pool.errors import FrameSourceError
from kvs_pool.ring import ConnectionState
from kvs_pool.sources import FrameSource, SourceControl, SourceState
from kvs_pool.sources.url import URLFrameSource, URLSourceOptions
from kvs_pool.synth import frame_index

FRAMES = 150   # clip length (conftest)


class Lender:
    """An ``into`` that lends buffers from a small pool, like ring slots, and remembers them."""

    def __init__(self, slots: int = 3) -> None:
        self.slots: dict[tuple[int, int, int], list[np.ndarray]] = {}
        self.count, self.n = 0, slots
        self.lent: np.ndarray | None = None

    def __call__(self, h: int, w: int, c: int) -> np.ndarray:
        pool = self.slots.setdefault((h, w, c), [np.zeros((h, w, c), np.uint8) for _ in range(self.n)])
        self.lent = pool[self.count % self.n]
        self.count += 1
        return self.lent


def read(source: URLFrameSource, limit: int = 10_000, into: Callable | None = None
         ) -> list[tuple[int, float]]:
    """(frame index, capture_ts) of up to ``limit`` frames."""
    seen = []
    for array, ts in source.read_frames(into=into):
        seen.append((frame_index(array), ts))
        if len(seen) >= limit:
            break
    return seen


def test_state_numbers_match_the_ring_header() -> None:
    assert {s.name: int(s) for s in SourceState} == {s.name: int(s) for s in ConnectionState}


def test_file_decodes_every_frame_in_order_into_the_lent_buffers(clip: Path) -> None:
    lender = Lender()
    source = URLFrameSource(str(clip))
    assert isinstance(source, FrameSource)
    indices, identical = [], 0
    with source:
        for array, _ts in source.read_frames(into=lender):
            identical += array is lender.lent
            indices.append(frame_index(array))
            assert source.stats.state == SourceState.CONNECTED
    assert indices == list(range(FRAMES))
    assert identical == FRAMES
    assert source.stats.frames == FRAMES and source.stats.skipped == 0
    assert source.stats.state == SourceState.DISCONNECTED and source.stats.read_errors == 0


@pytest.mark.parametrize("bframes", [0, 2])
@pytest.mark.parametrize("target,step", [(5, 5), (12.5, 2), (1, 25), (0.5, 50), (0.25, 100)])
def test_sampling_keeps_exactly_the_frames_of_the_target_rate(
        request: pytest.FixtureRequest, bframes: int, target: float, step: int) -> None:
    path = request.getfixturevalue("clip_bframes" if bframes else "clip")
    lender = Lender()
    source = URLFrameSource(str(path), URLSourceOptions(target_fps=target))
    seen = []
    for array, _ in source.read_frames(into=lender):
        assert array is lender.lent
        seen.append(frame_index(array))
    assert seen == list(range(0, FRAMES, step))
    assert source.stats.frames + source.stats.skipped == FRAMES


@pytest.mark.parametrize("fixture", ["clip", "clip_bframes"])
@pytest.mark.parametrize("target", [5, 1])
def test_sampled_frames_match_opencv_decode(request: pytest.FixtureRequest, fixture: str,
                                            target: float) -> None:
    path = request.getfixturevalue(fixture)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    reference = [cap.read()[1] for _ in range(FRAMES)]
    cap.release()
    source = URLFrameSource(str(path), URLSourceOptions(target_fps=target, fast_sampling=False))
    kept = 0
    for array, _ in source.read_frames():
        assert cv2.PSNR(array, reference[frame_index(array)]) > 40   # no missing reference
        kept += 1
    assert kept == FRAMES * target // 25


def test_looping_file_keeps_going_with_increasing_timestamps(clip: Path) -> None:
    source = URLFrameSource(f"file://{clip}", URLSourceOptions(loop=True))
    seen = read(source, limit=FRAMES * 2 + 10)
    source.close()
    assert [i for i, _ in seen] == list(range(FRAMES)) * 2 + list(range(10))
    stamps = [ts for _, ts in seen]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert abs((stamps[FRAMES] - stamps[FRAMES - 1]) - 0.04) < 1e-6   # no jump at the loop
    assert source.stats.reconnects == 0 and source.stats.read_errors == 0


def test_realtime_file_is_paced_at_its_own_rate(clip: Path) -> None:
    source = URLFrameSource(str(clip), URLSourceOptions(realtime=True))
    start_wall, start = time.time(), time.monotonic()
    seen = read(source, limit=50)
    source.close()
    assert time.monotonic() - start >= 49 / 25 - 0.05     # never faster than the stream
    assert seen[0][1] >= start_wall - 0.5
    assert abs((seen[-1][1] - seen[0][1]) - 49 / 25) < 1e-3   # pts spacing


def test_http_hls_vod_opencv_and_pyav(hls_dir: Path, serve_directory) -> None:
    server = serve_directory(hls_dir)
    for options in (URLSourceOptions(max_consecutive_errors=1, pace=False),
                    URLSourceOptions(target_fps=5, max_consecutive_errors=1, pace=False)):
        source = URLFrameSource(server.url("index.m3u8"), options)
        seen = read(source, limit=FRAMES if options.target_fps is None else FRAMES // 5)
        source.close()
        step = 1 if options.target_fps is None else 5
        assert [i for i, _ in seen] == list(range(0, FRAMES, step))
        now = time.time()
        assert all(now - 60 < ts <= now for _, ts in seen)    # live stamping: never in the future


def test_end_of_live_stream_reconnects_and_continues(hls_dir: Path, serve_directory) -> None:
    server = serve_directory(hls_dir)
    options = URLSourceOptions(backoff=BackoffPolicy(initial_s=0.05, max_s=0.1))
    source = URLFrameSource(server.url("index.m3u8"), options)
    seen = read(source, limit=FRAMES + 20)
    source.close()
    assert [i for i, _ in seen] == list(range(FRAMES)) + list(range(20))
    assert source.stats.reconnects == 1 and source.stats.read_errors == 1
    assert "ended" in (source.stats.last_error or "")


@pytest.mark.parametrize("target", [None, 5])
def test_hung_server_is_bounded_by_the_timeouts(hung_url: str, target: float | None) -> None:
    progress: list[float] = []
    control = SourceControl(on_progress=lambda: progress.append(time.monotonic()))
    options = URLSourceOptions(target_fps=target, open_timeout_s=1, read_timeout_s=1,
                               max_consecutive_errors=1)
    source = URLFrameSource(hung_url, options, control)
    start = time.monotonic()
    with pytest.raises(FrameSourceError, match="giving up"):
        source.read_frame()
    assert time.monotonic() - start < 30          # 2 x timeouts + slack on a loaded machine
    assert source.stats.state == SourceState.ERROR
    assert source.stats.read_errors == 1 and source.stats.frames == 0


def test_refused_port_backs_off_with_growing_delays(refused_url: str, fake_time) -> None:
    policy = BackoffPolicy(initial_s=1.0, factor=2.0, max_s=6.0)
    waits: dict[int, float] = {}
    steps: list[float] = []

    def on_progress() -> None:
        steps.append(fake_time.sleeps[-1])
        errors = source.stats.read_errors
        waits[errors] = waits.get(errors, 0.0) + fake_time.sleeps[-1]

    control = SourceControl(on_progress=on_progress, clock=fake_time.clock, sleep=fake_time.sleep)
    options = URLSourceOptions(backoff=policy, max_consecutive_errors=5)
    source = URLFrameSource(refused_url, options, control, rng=random.Random(7))
    with pytest.raises(FrameSourceError, match="5 errors in a row"):
        read(source)
    expected = Backoff(policy, random.Random(7))
    delays = [expected.next_delay() for _ in range(4)]
    assert [waits[n] for n in range(1, 5)] == pytest.approx(delays)
    assert delays[0] < delays[1] < delays[2] and delays[3] <= 6.0 * 1.2
    assert max(steps) <= 1.0 and len(steps) >= sum(delays)      # progress at least every second
    assert source.stats.reconnects == 4 and source.stats.state == SourceState.ERROR
    assert "cannot open" in (source.stats.last_error or "")


def test_stop_ends_a_backoff_wait_promptly(refused_url: str) -> None:
    stop = threading.Event()
    control = SourceControl(stop=stop)
    options = URLSourceOptions(backoff=BackoffPolicy(initial_s=60, max_s=60), max_consecutive_errors=0)
    source = URLFrameSource(refused_url, options, control)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(source.read_frame()))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while source.stats.read_errors == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.stats.state == SourceState.RECONNECTING
    finally:
        stopped_at = time.monotonic()
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and result == [None]
    assert time.monotonic() - stopped_at < 10          # not the 60 s backoff
    assert source.stats.state == SourceState.DISCONNECTED


def test_missing_file_fails_at_once_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    source = URLFrameSource(str(missing))
    with pytest.raises(FrameSourceError, match="no such video file.*nope.mp4"):
        source.read_frame()
    assert source.stats.state == SourceState.ERROR


def test_not_a_video_fails_after_the_allowed_errors(tmp_path: Path, fake_time) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    control = SourceControl(clock=fake_time.clock, sleep=fake_time.sleep)
    source = URLFrameSource(str(junk), URLSourceOptions(max_consecutive_errors=2), control)
    with pytest.raises(FrameSourceError, match="cannot open"):
        source.read_frame()
    assert source.stats.read_errors == 2 and source.stats.reconnects == 1


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        URLSourceOptions(backend="gstreamer")
    with pytest.raises(ValueError, match="target_fps"):
        URLSourceOptions(target_fps=0)


def test_a_file_camera_from_the_config_loops_in_real_time(clip: Path, tmp_path: Path) -> None:
    from kvs_pool.config import load_config
    from kvs_pool.workers.decoder import DecoderArgs, open_source
    path = tmp_path / "pool.yaml"
    path.write_text(f"pool: {{name: t1}}\ncameras:\n  - id: cam1\n    source: {{url: 'file://{clip}'}}\n"
                    "    target_fps: 5\n")
    camera = load_config(path).cameras[0]
    stop = threading.Event()
    calls: list[int] = []
    source = open_source(DecoderArgs("t1", camera), stop, lambda: calls.append(1))
    assert isinstance(source, URLFrameSource)
    assert source.camera_id == "cam1" and source.options.loop and source.options.realtime
    assert source.options.target_fps == 5 and source.control.stop is stop
    first = source.read_frame()
    assert first is not None and frame_index(first[0]) == 0
    source.close()


def test_no_delivered_frame_within_the_stall_timeout_reconnects(clip: Path, fake_time) -> None:
    def ticking_clock() -> float:      # every look at the clock costs a second
        fake_time.now += 1.0
        return fake_time.now

    control = SourceControl(clock=ticking_clock, sleep=fake_time.sleep)
    options = URLSourceOptions(target_fps=5, frame_timeout_s=2.5,
                               backoff=BackoffPolicy(initial_s=0.5, max_s=1.0))
    source = URLFrameSource(str(clip), options, control)
    seen = [i for i, _ in read(source, limit=4)]
    source.close()
    assert seen == [0, 0, 0, 0]          # each connection: one frame, then a stall and a reopen
    assert source.stats.reconnects >= 3 and source.stats.read_errors >= 3
    assert "stalled" in (source.stats.last_error or "")


def test_stall_timeout_scales_with_low_frame_rates() -> None:
    fast = URLFrameSource("rtsp://127.0.0.1:9/x", URLSourceOptions())
    fast.fps = 25
    slow = URLFrameSource("rtsp://127.0.0.1:9/x", URLSourceOptions(target_fps=0.1))
    slow.fps = 25
    assert fast.frame_timeout() == 15.0 and slow.frame_timeout() == 50.0


@pytest.mark.parametrize("target", [None, 5])
def test_broken_http_reads_are_counted_errors_not_crashes(clip: Path, serve_directory,
                                                          fake_time, target) -> None:
    # An MP4 with its index at the end needs HTTP range requests, which this server ignores:
    # FFmpeg's reads fail part-way. The source must count each failure and reconnect.
    server = serve_directory(clip.parent)
    control = SourceControl(clock=fake_time.clock, sleep=fake_time.sleep)
    options = URLSourceOptions(target_fps=target, max_consecutive_errors=3)
    source = URLFrameSource(server.url(clip.name), options, control)
    try:
        for _ in source.read_frames():
            if source.stats.read_errors >= 2:
                break
    except FrameSourceError as exc:      # no frame at all: gave up after 3 errors in a row
        assert "giving up" in str(exc) and source.stats.frames == 0
    assert source.stats.read_errors >= 2 and source.stats.reconnects >= 2
    assert server.url(clip.name) in (source.stats.last_error or "")
