"""Sampling rules, non-reference detection and the timeline, checked against real streams and
FFmpeg's own notion of what it may skip."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from kvs_pool.sources.sampling import (
    PLAN_ALL,
    PLAN_KEYFRAMES,
    PLAN_SAMPLED,
    KeyframeRate,
    PacketRouter,
    Sampler,
    choose_plan,
    is_disposable,
)
from kvs_pool.sources.timeline import MAX_LAG_S, Timeline


def kept(sampler: Sampler, times: list[float]) -> list[float]:
    return [t for t in times if sampler.take(t)]


def test_sampler_keeps_every_fifth_of_25fps_and_all_without_target() -> None:
    times = [n / 25 for n in range(100)]
    assert kept(Sampler(5, 25), times) == times[::5]
    assert kept(Sampler(None, 25), times) == times


def test_sampler_does_not_burst_after_a_gap_and_restarts_when_time_goes_back() -> None:
    sampler = Sampler(5, 25)
    assert kept(sampler, [0.0, 0.04, 0.2]) == [0.0, 0.2]
    assert sampler.take(10.0) and not sampler.take(10.04) and sampler.take(10.2)
    assert sampler.take(0.0)          # a new stream (or a looped file) starts over


def test_may_keep_predicts_take_on_a_regular_stream() -> None:
    for target in (3, 5, 7, 12.5):
        sampler = Sampler(target, 25)
        for n in range(200):
            t = n / 25
            assert sampler.may_keep(t) == sampler.take(t), (target, n)


def test_keyframe_rate_and_plans() -> None:
    keys = KeyframeRate()
    for t in (0.0, 2.0, 4.0):
        keys.observe(t)
    assert keys.rate == pytest.approx(0.5)
    assert choose_plan(None, 25, 0.5) == PLAN_ALL
    assert choose_plan(25, 25, 0.5) == PLAN_ALL
    assert choose_plan(5, 25, 0.5) == PLAN_SAMPLED
    assert choose_plan(5, 25, None) == PLAN_SAMPLED           # key rate not known yet
    assert choose_plan(0.5, 25, 0.5) == PLAN_KEYFRAMES
    assert choose_plan(0.1, 25, 0.5) == PLAN_KEYFRAMES


def _decoded_count(path: Path, skip: str | None) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        if skip:
            stream.codec_context.skip_frame = skip
        return sum(1 for _ in container.decode(stream))


@pytest.mark.parametrize("fixture", ["clip", "clip_bframes"])
def test_disposable_packets_are_what_ffmpeg_skips_as_nonref(request: pytest.FixtureRequest,
                                                            fixture: str) -> None:
    path = request.getfixturevalue(fixture)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        prefixed = (stream.codec_context.extradata or b"")[:1] == b"\x01"
        disposable = sum(is_disposable(bytes(p), "h264", prefixed)
                         for p in container.demux(stream) if p.size)
    skipped_by_ffmpeg = _decoded_count(path, None) - _decoded_count(path, "NONREF")
    assert disposable == skipped_by_ffmpeg
    assert (disposable > 0) == (fixture == "clip_bframes")


def test_annex_b_and_hevc_headers() -> None:
    h264_b = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01\x01\x9a\x00"   # AUD, then slice ref_idc 0
    h264_p = b"\x00\x00\x01\x41\x9a\x00"                                  # slice, ref_idc 2
    assert is_disposable(h264_b, "h264", False) and not is_disposable(h264_p, "h264", False)
    hevc_trail_n, hevc_trail_r = b"\x00\x00\x01\x00\x01\xaa", b"\x00\x00\x01\x02\x01\xaa"
    assert is_disposable(hevc_trail_n, "hevc", False)
    assert not is_disposable(hevc_trail_r, "hevc", False)
    assert not is_disposable(h264_b, "vp9", False)
    assert not is_disposable(b"\x00\x00", "h264", True)


class Clock:
    def __init__(self) -> None:
        self.wall_now, self.mono_now = 1_700_000_000.0, 50.0

    def wall(self) -> float:
        return self.wall_now

    def mono(self) -> float:
        return self.mono_now


def test_live_timeline_keeps_pts_spacing_and_never_runs_ahead() -> None:
    clock = Clock()
    line = Timeline(live=True, wall=clock.wall)
    line.restart(25)
    burst = [line.stamp(100 + n / 25) for n in range(50)]     # a 2 s fragment arrives at once
    assert all(ts <= clock.wall_now for ts in burst)
    assert burst[-1] == clock.wall_now
    clock.wall_now += 2.0
    later = line.stamp(102.0)
    assert later == pytest.approx(burst[-1] + 0.04)               # spacing from the stream
    clock.wall_now += MAX_LAG_S + 5
    assert line.stamp(102.04) == clock.wall_now                   # far behind: re-anchored


def test_file_timeline_counts_on_across_loops() -> None:
    clock = Clock()
    line = Timeline(live=False, wall=clock.wall)
    line.restart(25)
    first = [line.stamp(n / 25) for n in range(25)]
    assert first[0] == clock.wall_now and first[-1] == pytest.approx(clock.wall_now + 0.96)
    assert line.position == pytest.approx(0.96)     # what a real-time file is paced on
    line.restart(25)                     # the file starts again
    assert line.stamp(0.0) == pytest.approx(first[-1] + 0.04)


def test_router_holds_packets_until_the_key_frame_rate_is_known() -> None:
    # 25 fps, key frames every 2 s, target 0.5 fps: after the first key frame the non-key
    # packets are held; the next key frame arrives in time, so they are dropped undecoded.
    router = PacketRouter(0.5, 25, disposable=lambda p: False)
    routed = [r for n in range(101) for r in router.route(n, n / 25, key=n % 50 == 0)]
    assert [p for p, _, decode in routed if decode] == [0, 50, 100]
    assert sorted(p for p, _, _ in routed) == list(range(101))      # every packet accounted for
    assert router.plan == PLAN_KEYFRAMES


def test_router_releases_held_packets_when_key_frames_are_too_rare() -> None:
    # target 5 fps: the hold lasts one target interval (0.2 s), then packets flow in order.
    router = PacketRouter(5, 25, disposable=lambda p: p % 2 == 1)
    out = []
    for n in range(60):
        for routed in router.route(n, n / 25, key=n % 50 == 0):
            out.append(routed)
            if routed[2]:
                router.sampler.take(routed[1])   # the decoder's side: frames come out in order
    assert [p for p, _, _ in out] == list(range(60))                  # order kept
    decoded = [p for p, _, decode in out if decode]
    assert set(range(0, 60, 5)) <= set(decoded)                       # kept frames decoded
    assert all(p % 2 == 0 or p % 5 == 0 for p in decoded)            # unkept disposables dropped
    assert router.plan == PLAN_SAMPLED
