"""The live timeline: publication on real time, stall gaps, corrupt and rendition flags,
restamped decode times that only increase."""

from __future__ import annotations

import time

from emu_world import SPEC
from polling import wait_for

from kvs_pool.emulator import mp4
from kvs_pool.emulator.media import synthetic_clip
from kvs_pool.emulator.stream import FRAGMENT_NUMBER_BASE, LiveStream


def test_backfill_then_publication_on_real_time() -> None:
    live = LiveStream("s", synthetic_clip(SPEC.video_spec()), backfill=3)
    first = live.published()
    assert [f.ordinal for f in first] == [0, 1, 2]
    assert first[-1].published_mono <= time.monotonic()
    newer = wait_for(lambda: [f for f in live.published() if f.ordinal >= 4], timeout=20)
    assert abs(newer[0].published_mono - first[-1].published_mono - 1.0) < 1e-6  # 2 x 0.5 s
    assert all(f.start_wall < f.published_wall for f in live.published())


def test_decode_time_increases_across_loops_and_stalls() -> None:
    clip = synthetic_clip(SPEC.video_spec())
    live = LiveStream("s", clip, backfill=len(clip.fragments) + 2)   # already past one loop
    live.stall(0.6)
    wait_for(lambda: live.published()[-1].discontinuity, timeout=20)
    fragments = live.published()
    ticks = [mp4.base_decode_time(live.payload(f)) for f in fragments]
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)
    gaps = [b - a - clip.durations[0] for a, b in zip(ticks, ticks[1:])]
    assert gaps[:-1] == [0] * (len(gaps) - 1)                        # seamless loop
    assert gaps[-1] >= 0.5 * clip.timescale                          # the stall's gap


def test_corrupt_flag_and_lookup_by_number() -> None:
    clip = synthetic_clip(SPEC.video_spec())
    live = LiveStream("s", clip, backfill=2)
    live.corrupt_next(1)
    bad = wait_for(lambda: [f for f in live.published() if f.corrupt], timeout=20)[0]
    assert live.fragment(bad.number) == bad and int(bad.number) == FRAGMENT_NUMBER_BASE + bad.ordinal
    assert live.payload(bad) != mp4.restamp(clip.fragments[bad.clip_index], bad.ordinal + 1,
                                            int(bad.media_start * clip.timescale))
    assert live.fragment("12") is None and live.fragment("not-a-number") is None
    assert live.fragment(str(FRAGMENT_NUMBER_BASE + 10_000)) is None
