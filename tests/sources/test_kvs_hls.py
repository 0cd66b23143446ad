"""KVSHLSFrameSource end to end: real boto3 -> the loopback KVS emulator -> PyAV -> frames.

Each test starts its own emulator (320x180, 10 fps, fragments of 0.5 s) and injects one fault
of the issue's list, then checks the frames (indices stamped in the video, timestamps) and the
counters and state the decoder worker mirrors into the ring header.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import av
import numpy as np
import pytest
from kvs_world import (
    FAST_BACKOFF,
    FPS,
    FRAGMENT_S,
    GOP,
    LOOP,
    SEED,
    SPEC,
    FastControl,
    consecutive,
    make_source,
    max_ts_gap,
    read_until,
)

from kvs_pool.backoff import Backoff, BackoffPolicy
from kvs_pool.emulator import EmulatorServer
from kvs_pool.emulator.media import synthetic_clip
from kvs_pool.sources.base import SourceState
from kvs_pool.synth import frame_index

FRAME_S = 1 / FPS


def test_frames_arrive_in_order_with_stream_timestamps(emu: EmulatorServer) -> None:
    source = make_source(emu)
    states: list[int] = []
    healthy: list[bool] = []

    def enough(seen: list) -> bool:
        states.append(int(source.stats.state))
        healthy.append(source.is_healthy())
        return len(seen) >= 25

    with source:
        seen = read_until(source, enough)
    assert all(healthy)
    assert consecutive(seen) == []
    steps = [b.ts - a.ts for a, b in zip(seen, seen[1:])]
    assert all(abs(step - FRAME_S) < 0.01 for step in steps), steps
    assert abs(seen[-1].ts - time.time()) < 10          # the fragment's program date-time
    assert all(s.loaned and s.shape == (180, 320, 3) for s in seen)
    assert set(states) == {SourceState.CONNECTED}
    stats = source.stats
    assert stats.frames == 25 and stats.last_frame_wall == seen[-1].ts
    assert (stats.reconnects, stats.read_errors, stats.url_refreshes) == (0, 0, 0)
    assert source.last_fragment is not None
    assert stats.state == SourceState.DISCONNECTED and not source.is_healthy()


def test_read_frame_returns_fresh_arrays(emu: EmulatorServer) -> None:
    with make_source(emu) as source:
        first = source.read_frame()
        second = source.read_frame()
    assert first is not None and second is not None
    assert first[0] is not second[0] and second[1] > first[1]
    assert first[0].shape == (180, 320, 3)


def test_url_refreshed_before_expiry_without_losing_a_frame(emu: EmulatorServer) -> None:
    emu.set_session_seconds(2.5)
    source = make_source(emu, session_lifetime_s=2.5, refresh_margin_s=1.0)
    with source:
        seen = read_until(source, lambda seen: source.stats.url_refreshes >= 3 and len(seen) > 5)
    assert consecutive(seen) == [] and max_ts_gap(seen) < FRAME_S + 0.01
    assert source.stats.read_errors == 0 and source.stats.reconnects == 0


def test_expired_session_without_refresh_recovers_within_a_fragment(emu: EmulatorServer) -> None:
    source = make_source(emu)
    expired = []

    def step(seen: list) -> bool:
        if len(seen) == 12:
            expired.append(emu.expire_sessions())
        return len(seen) >= 40

    with source:
        seen = read_until(source, step)
    assert expired == [1]
    assert source.stats.url_refreshes == 1 and source.stats.read_errors == 1
    assert source.stats.reconnects == 0 and "403" in str(source.stats.last_error)
    assert max_ts_gap(seen) <= FRAGMENT_S + FRAME_S + 0.01
    assert "NotAuthorizedException" in str(source.stats.last_error)


def test_on_demand_refresh_from_another_thread(emu: EmulatorServer) -> None:
    source = make_source(emu)

    def step(seen: list) -> bool:
        if len(seen) in (5, 15):
            threading.Thread(target=source.refresh_url).start()
        return len(seen) >= 30 and source.stats.url_refreshes == 2

    with source:
        seen = read_until(source, step)
    assert consecutive(seen) == [] and source.stats.read_errors == 0


def test_fragment_500s_back_off_on_schedule_then_resume(emu: EmulatorServer) -> None:
    control = FastControl()
    source = make_source(emu, control)

    def step(seen: list) -> bool:
        if len(seen) == 6:
            emu.error_burst(500, count=3, plane="data", api="GetMP4MediaFragment")
        return len(seen) >= 30

    with source:
        seen = read_until(source, step)
    expected = Backoff(FAST_BACKOFF, random.Random(SEED))
    assert control.backoff_waits() == pytest.approx([expected.next_delay() for _ in range(3)])
    assert source.stats.reconnects == 3 and source.stats.read_errors == 3
    assert SourceState.RECONNECTING in control.states
    assert "InternalFailure" in str(source.stats.last_error)
    assert source.stats.consecutive_errors == 0 and source.stats.state == SourceState.DISCONNECTED
    assert consecutive(seen) == []          # the window still held the fragments: no loss


def test_throttling_backs_off_and_recovers(emu: EmulatorServer) -> None:
    control = FastControl()
    emu.throttle(count=2, plane="control", api="GetHLSStreamingSessionURL")
    emu.throttle(count=1, plane="data", api="GetHLSMediaPlaylist")
    source = make_source(emu, control)
    with source:
        read_until(source, lambda seen: len(seen) >= 10)
    assert len(control.backoff_waits()) == 3
    assert source.stats.read_errors == 3 and source.stats.reconnects == 3
    assert "ClientLimitExceededException" in str(source.stats.last_error)


def test_stall_is_detected_and_reconnected(emu: EmulatorServer) -> None:
    source = make_source(emu, stall_timeout_s=1.5)
    resumed: list[float] = []

    def resume_after_reconnect() -> None:
        deadline = time.monotonic() + 30
        while source.stats.reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        emu.resume()
        resumed.append(time.monotonic())

    def step(seen: list) -> bool:
        if len(seen) == 5:
            emu.stall(None)
            threading.Thread(target=resume_after_reconnect, daemon=True).start()
        return bool(resumed) and seen[-1].mono > resumed[0]

    with source:
        read_until(source, step)
    assert "stalled" in str(source.stats.last_error)
    assert source.stats.reconnects >= 1 and source.stats.read_errors >= 1


def test_resolution_change_reaches_the_consumer(emu: EmulatorServer) -> None:
    source = make_source(emu)
    asked: list[tuple[int, int, int]] = []

    def lend(h: int, w: int, c: int):
        asked.append((h, w, c))
        return np.empty((h, w, c), np.uint8)

    def step(seen: list) -> bool:
        if len(seen) == 5:
            emu.change_resolution(256, 144)
        return seen[-1].shape == (144, 256, 3) and sum(s.shape[0] == 144 for s in seen) >= 8

    with source:
        seen = read_until(source, step, into=lend)
    assert (144, 256, 3) in asked and (180, 320, 3) in asked
    small = [s for s in seen if s.shape == (144, 256, 3)]
    assert all(s.loaned for s in seen)
    assert consecutive(small) == [] and source.stats.read_errors == 0


def test_corrupt_fragment_is_skipped_without_reconnecting(emu: EmulatorServer) -> None:
    source = make_source(emu)

    def step(seen: list) -> bool:
        if len(seen) == 5:
            emu.corrupt_next(1)
        return len(seen) >= 40

    with source:
        seen = read_until(source, step)
    assert source.stats.reconnects == 0 and consecutive(seen[-15:]) == []
    breaks = consecutive(seen)               # the bad fragment is dropped (or decodes badly)
    assert len(breaks) <= 2
    if source.stats.read_errors:
        assert source.stats.read_errors == 1 and "does not decode" in str(source.stats.last_error)
        assert [(b - a) % LOOP - 1 for a, b in breaks] == [GOP]    # exactly one fragment lost


def test_target_fps_at_key_frame_rate_decodes_key_frames_only(emu: EmulatorServer) -> None:
    source = make_source(emu, target_fps=2.0)
    with source:
        seen = read_until(source, lambda seen: len(seen) >= 6)
    steps = [round(b.ts - a.ts, 2) for a, b in zip(seen[1:], seen[2:])]
    assert steps and all(step == 0.5 for step in steps), steps
    assert all(s.index % 5 == 0 for s in seen[1:])     # key frames (GOP 5)
    assert source.stats.skipped <= 4    # only the first fragment (rate not known yet) is full


def test_target_fps_above_key_frame_rate_skips_without_converting(emu: EmulatorServer) -> None:
    source = make_source(emu, target_fps=5.0)
    with source:
        seen = read_until(source, lambda seen: len(seen) >= 12)
    steps = [round(b.ts - a.ts, 2) for a, b in zip(seen, seen[1:])]
    assert all(step == 0.2 for step in steps), steps
    assert source.stats.skipped >= 10


def test_stop_while_backing_off_returns_promptly_and_reports_progress(emu: EmulatorServer) -> None:
    emu.error_burst(500, count=100, plane="control", api="GetHLSStreamingSessionURL")
    beats: list[float] = []
    source = make_source(emu, backoff=BackoffPolicy(initial_s=30))
    source.control.on_progress = lambda: beats.append(time.monotonic())
    threading.Timer(3.0, source.control.stop.set).start()
    started = time.monotonic()
    with source:
        assert list(source.read_frames()) == []
    assert time.monotonic() - started < 10
    assert len(beats) >= 2 and max(b - a for a, b in zip(beats, beats[1:])) < 1.5
    assert source.stats.state == SourceState.DISCONNECTED and source.stats.reconnects == 1


# -- pacing: frames spread like the camera produced them, not one fragment per burst ----------

def longest_burst(seen: list, window: float = 0.010) -> int:
    """Most frames yielded within ``window`` seconds of each other."""
    monos, best, start = [s.mono for s in seen], 0, 0
    for end, mono in enumerate(monos):
        while mono - monos[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def median_gap(seen: list) -> float:
    gaps = sorted(b.mono - a.mono for a, b in zip(seen, seen[1:]))
    return gaps[len(gaps) // 2]


@pytest.mark.parametrize("target_fps", [5.0, None])
def test_paced_frames_are_spread_at_the_target_rate(emu: EmulatorServer, target_fps) -> None:
    source = make_source(emu, target_fps=target_fps)
    interval = 1 / (target_fps or FPS)
    with source:
        seen = read_until(source, lambda seen: len(seen) >= 16)
    if target_fps is None:
        assert consecutive(seen) == []
    gaps = [b.mono - a.mono for a, b in zip(seen, seen[1:])]
    assert 0.5 * interval <= median_gap(seen) <= 2 * interval, gaps
    assert longest_burst(seen) <= 2
    assert all(s.loaned for s in seen)
    steps = [round(b.ts - a.ts, 2) for a, b in zip(seen, seen[1:])]
    assert all(step == round(interval, 2) for step in steps), steps     # timestamps unchanged


def test_unpaced_frames_come_in_bursts_of_a_fragment(emu: EmulatorServer) -> None:
    source = make_source(emu, pace=False)
    with source:
        seen = read_until(source, lambda seen: len(seen) >= 16)
    assert consecutive(seen) == []
    assert median_gap(seen) < 0.5 / FPS          # paced, it would be 1 / FPS
    assert longest_burst(seen, window=FRAGMENT_S / 2) >= GOP - 1


@pytest.fixture
def long_emu(aws_env: None) -> Iterator[EmulatorServer]:
    """Fragments of 3 s (10 fps, GOP 30): pacing sleeps long between two playlist polls."""
    from kvs_world import STREAM

    from kvs_pool.emulator import EmulatorConfig, StreamSpec
    spec = StreamSpec(STREAM, width=320, height=180, fps=FPS, gop=30, seconds=6)
    with EmulatorServer(EmulatorConfig(streams=(spec,))) as server:
        yield server


def test_progress_is_reported_and_stop_honoured_while_pacing(long_emu: EmulatorServer) -> None:
    source = make_source(long_emu, target_fps=2.0)      # 6 frames of a 3 s fragment, 0.5 s apart
    beats: list[float] = []
    frames: list[float] = []
    source.control.on_progress = lambda: beats.append(time.monotonic())
    stop_at: list[float] = []
    guard = threading.Timer(60, source.control.stop.set)
    guard.start()
    try:
        with source, closing(source.read_frames()) as stream:
            for _frame, _ts in stream:
                frames.append(time.monotonic())
                if len(frames) == 8:      # stop while the source sleeps between two frames
                    stop_at.append(time.monotonic() + 0.25)
                    threading.Timer(0.25, source.control.stop.set).start()
    finally:
        guard.cancel()
    assert len(frames) >= 8 and stop_at, frames
    assert time.monotonic() - stop_at[0] < 1.0
    paced = [b for b in beats if frames[1] <= b <= frames[7]]     # >= 3 s of paced frames
    edges = [frames[1], *paced, frames[7]]
    assert max(b - a for a, b in zip(edges, edges[1:])) < 1.5, (frames, beats)


def _reference_frames() -> dict[int, np.ndarray]:
    """The emulator's clip decoded on its own (one PyAV demuxer over init + every fragment,
    PyAV's own BGR conversion), by the index stamped in each frame."""
    clip = synthetic_clip(SPEC.video_spec())
    with av.open(io.BytesIO(clip.init + b"".join(clip.fragments)), format="mp4") as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(images) == LOOP
    return {frame_index(image): image for image in images}


@pytest.mark.parametrize("target_fps", [None, 2.0])       # every frame; key frames only
def test_frames_are_pixel_identical_to_a_reference_decode(emu: EmulatorServer,
                                                          target_fps: float | None) -> None:
    reference = _reference_frames()
    source = make_source(emu, target_fps=target_fps)
    slot = np.zeros((SPEC.height, SPEC.width, 3), np.uint8)     # one reused, lent "ring slot"
    mismatched: list[int] = []

    def check(seen: list) -> bool:
        if not np.array_equal(slot, reference[seen[-1].index]):
            mismatched.append(seen[-1].index)
        return len(seen) >= (3 * GOP if target_fps is None else 4)

    with source:
        seen = read_until(source, check, into=lambda h, w, c: slot)
    assert all(s.loaned for s in seen) and mismatched == []
