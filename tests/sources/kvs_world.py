"""Helpers for the KVS HLS source tests: an in-process emulator, a source wired to it through
real boto3, a control whose long waits are recorded and skipped (the clock jumps instead), and
a reader loop bounded by a deadline."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec
from kvs_pool.sources.base import SourceControl
from kvs_pool.sources.kvs_hls import KVSHLSFrameSource
from kvs_pool.synth import frame_index

STREAM = "cam-1"
FPS = 10
GOP = 5                       # fragments of 0.5 s
LOOP = 60                     # frames in the looping clip (6 s)
FRAGMENT_S = GOP / FPS
POLL_S = 0.2
FAST_BACKOFF = BackoffPolicy(initial_s=0.3, factor=2.0, max_s=1.0)
SEED = 7
SPEC = StreamSpec(STREAM, width=320, height=180, fps=FPS, gop=GOP, seconds=LOOP / FPS)


@pytest.fixture
def emu(aws_env: None) -> Iterator[EmulatorServer]:
    """An emulator on a free loopback port serving ``STREAM`` (320x180, 10 fps, GOP 5)."""
    with EmulatorServer(EmulatorConfig(streams=(SPEC,), idle_window_s=30.0)) as server:
        yield server


@dataclass
class FastControl(SourceControl):
    """Records every wait and the source's state at that moment; waits longer than
    ``skip_over`` seconds are not slept: the clock jumps by them instead."""

    skip_over: float = POLL_S + 0.05
    waits: list[float] = field(default_factory=list)
    states: list[int] = field(default_factory=list)
    offset: float = 0.0
    source: Any = None

    def __post_init__(self) -> None:
        self.clock = lambda: time.monotonic() + self.offset

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.states.append(int(self.source.stats.state) if self.source else -1)
        if seconds > self.skip_over:
            self.offset += seconds
            self.progress()
            return not self.stopped()
        return super().wait(seconds)

    def backoff_waits(self) -> list[float]:
        return [w for w in self.waits if w > self.skip_over]


def make_source(server: EmulatorServer, control: SourceControl | None = None,
                **settings: Any) -> KVSHLSFrameSource:
    """A source on ``STREAM`` of ``server`` with test-sized timings (overridable)."""
    base: dict[str, Any] = dict(stream_name=STREAM, endpoint_url=server.base_url, playlist_poll_s=POLL_S,
                                backoff=FAST_BACKOFF, rng=random.Random(SEED),
                                idle_retry_s=0.5, read_timeout_s=3.0, connect_timeout_s=2.0)
    base.update(settings)
    source = KVSHLSFrameSource("cam-a", region="us-east-1", control=control, **base)
    if isinstance(control, FastControl):
        control.source = source
    return source


@dataclass
class Seen:
    """One delivered frame as the test saw it."""

    index: int
    ts: float
    shape: tuple[int, ...]
    mono: float
    loaned: bool


def read_until(source: KVSHLSFrameSource, done: Callable[[list[Seen]], bool],
               timeout: float = 40.0, into: Callable[[int, int, int], np.ndarray] | None = None
               ) -> list[Seen]:
    """Read frames until ``done(seen)`` is true (it may inject faults); fails at ``timeout``."""
    seen: list[Seen] = []
    loans: list[np.ndarray] = []

    def lend(h: int, w: int, c: int) -> np.ndarray:
        loans.append(into(h, w, c) if into else np.empty((h, w, c), np.uint8))
        return loans[-1]

    timer = threading.Timer(timeout, source.control.stop.set)
    timer.start()
    try:
        with closing(source.read_frames(into=lend)) as frames:
            for array, ts in frames:
                seen.append(Seen(frame_index(array), ts, array.shape, time.monotonic(),
                                 array is loans[-1]))
                if done(seen):
                    return seen
    finally:
        timer.cancel()
    pytest.fail(f"condition not reached in {timeout} s; {len(seen)} frames; stats {source.stats}")


def consecutive(seen: list[Seen]) -> list[tuple[int, int]]:
    """Pairs of neighbouring frames whose indices are not consecutive (modulo the loop)."""
    return [(a.index, b.index) for a, b in zip(seen, seen[1:]) if (b.index - a.index) % LOOP != 1]


def max_ts_gap(seen: list[Seen]) -> float:
    return max((b.ts - a.ts for a, b in zip(seen, seen[1:])), default=0.0)
