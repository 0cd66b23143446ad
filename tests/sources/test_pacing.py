"""``Pacer`` rules on a fake monotonic clock (``FakeTime``): stream-time spacing, catch-up
without bursts, re-anchoring instead of repaying a debt, progress and stop while waiting.
The end-to-end behaviour through the emulator is in ``test_kvs_hls.py``."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from kvs_pool.sources.base import SourceControl
from kvs_pool.sources.pacing import CATCH_UP, Pacer

if TYPE_CHECKING:  # the fake_time fixture's type (tests/sources/conftest.py); only a hint,
    from conftest import FakeTime  # importing it at run time picks whichever conftest loaded first

FRAGMENT = 1.0


def pacer_on(fake: FakeTime, beats: list[float] | None = None) -> Pacer:
    control = SourceControl(clock=fake.clock, sleep=fake.sleep)
    if beats is not None:
        control.on_progress = lambda: beats.append(fake.now)
    return Pacer(control)


def release(pacer: Pacer, fake: FakeTime, times: list[float], fragment: float = FRAGMENT
            ) -> list[float]:
    """Clock readings at which frames of stream times ``times`` are let out (all available now)."""
    out = []
    for t in times:
        assert pacer.wait_for(t, fragment)
        out.append(fake.now)
    return out


def test_a_fragment_decoded_at_once_goes_out_at_its_stream_rate(fake_time: FakeTime) -> None:
    pacer = pacer_on(fake_time)
    start = fake_time.now
    out = release(pacer, fake_time, [100 + i * 0.2 for i in range(5)])
    assert [round(o - start, 6) for o in out] == [0.0, 0.2, 0.4, 0.6, 0.8]


def test_the_timeline_carries_across_fragments(fake_time: FakeTime) -> None:
    pacer = pacer_on(fake_time)
    start = fake_time.now
    release(pacer, fake_time, [100.0, 100.5])
    fake_time.now += 0.3                      # fetching the next fragment took 0.3 s
    out = release(pacer, fake_time, [101.0, 101.5])
    assert [round(o - start, 6) for o in out] == [1.0, 1.5]


def test_a_late_fragment_is_caught_up_without_a_burst(fake_time: FakeTime) -> None:
    pacer = pacer_on(fake_time)
    release(pacer, fake_time, [100.0, 100.1])
    fake_time.now += 0.5                      # the next fragment is 0.4 s late
    out = release(pacer, fake_time, [100.2 + i * 0.1 for i in range(12)])
    gaps = [round(b - a, 6) for a, b in zip(out, out[1:])]
    assert min(gaps) >= round(0.1 / CATCH_UP, 6)          # never two frames at once
    assert gaps[-1] == pytest.approx(0.1)                  # debt repaid: back to the stream rate
    assert out[-1] - out[0] == pytest.approx(1.1 - 0.4)    # ...and the 0.4 s is not kept
    assert pacer.reanchors == 0


def test_late_by_more_than_a_fragment_reanchors_instead_of_repaying(fake_time: FakeTime) -> None:
    pacer = pacer_on(fake_time)
    release(pacer, fake_time, [100.0, 100.1])
    fake_time.now += 5.0                      # a slow fetch: 5 s behind
    resumed = fake_time.now
    out = release(pacer, fake_time, [100.2, 100.3, 100.4])
    assert [round(o - resumed, 6) for o in out] == [0.0, 0.1, 0.2]
    assert pacer.reanchors == 1


@pytest.mark.parametrize("times", [[100.0, 130.0], [100.0, 99.0], [100.0, 100.0]],
                         ids=["jump-ahead", "backwards", "repeated"])
def test_a_timeline_jump_never_sleeps(fake_time: FakeTime, times: list[float]) -> None:
    pacer = pacer_on(fake_time)
    start = fake_time.now
    release(pacer, fake_time, times)
    assert fake_time.now == start and fake_time.sleeps == []


def test_progress_at_least_once_a_second_while_waiting(fake_time: FakeTime) -> None:
    beats: list[float] = []
    pacer = pacer_on(fake_time, beats)
    start = fake_time.now
    release(pacer, fake_time, [100.0, 103.5], fragment=2.0)   # a frame every 3.5 s (low fps)
    assert fake_time.now - start == pytest.approx(3.5)
    edges = [start, *beats, fake_time.now]
    assert len(beats) >= 3 and max(b - a for a, b in zip(edges, edges[1:])) <= 1.0 + 1e-9


def test_reset_starts_a_new_timeline(fake_time: FakeTime) -> None:
    pacer = pacer_on(fake_time)
    release(pacer, fake_time, [100.0, 100.2])
    pacer.reset()
    before = fake_time.now
    release(pacer, fake_time, [100.4])
    assert fake_time.now == before


def test_stop_ends_a_wait_at_once() -> None:
    control = SourceControl()
    pacer = Pacer(control)
    assert pacer.wait_for(100.0, 10.0)
    threading.Timer(0.2, control.stop.set).start()
    started = time.monotonic()
    assert not pacer.wait_for(108.0, 10.0)
    assert time.monotonic() - started < 1.0
