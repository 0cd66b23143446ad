"""The decoder's pump on a real ring: decode-in-place frames are committed without a copy,
foreign arrays are copied, oversize frames are downscaled into the slot, the source's counters
and state are mirrored into the header, and SIGTERM's stop event ends the loop cleanly."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from kvs_pool.ring import ConnectionState, RingGeometry, RingReader, RingWriter, create_ring
from kvs_pool.sources import SourceStats
from kvs_pool.synth import VideoSpec, frame_index, make_frame
from kvs_pool.workers import EXIT_OK
from kvs_pool.workers.decoder import _Pump

SPEC = VideoSpec(width=320, height=240)


class ScriptedSource:
    """A FrameSource yielding synthetic frames: in place, in its own array, or oversize."""

    camera_id = "cam"

    def __init__(self, modes: list[str], stop: threading.Event | None = None) -> None:
        self.modes, self.stop = modes, stop
        self.stats = SourceStats(state=ConnectionState.CONNECTED)
        self.in_place: list[bool] = []

    def read_frames(self, into) -> Iterator[tuple[np.ndarray, float]]:
        for n, mode in enumerate(self.modes):
            image = make_frame(SPEC, n)
            if mode == "big":
                image = np.ascontiguousarray(np.repeat(np.repeat(image, 2, 0), 2, 1))
            buf = into(*image.shape)
            if mode == "in_place":
                np.copyto(buf, image)
                array = buf
            else:
                array = image
            self.in_place.append(array is buf)
            self.stats.delivered(time.time(), time.monotonic())
            self.stats.read_errors += mode == "own"
            if n == 2 and self.stop is not None:
                self.stop.set()  # as SIGTERM would, while frame 2 is being delivered
            yield array, 1000.0 + n


@pytest.fixture
def ring(pool_name: str) -> Iterator[tuple[RingWriter, RingReader]]:
    owner = create_ring(pool_name, "cam", RingGeometry(320, 240, slots=8))
    writer = RingWriter.attach(pool_name, "cam")
    reader = RingReader.attach(pool_name, "cam")
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()
        owner.unlink()


def test_frames_reach_the_ring_copied_or_downscaled_with_counters(ring) -> None:
    writer, reader = ring
    source = ScriptedSource(["in_place", "own", "big", "in_place"])
    pump = _Pump(writer, threading.Event(), parent_pid=os.getppid())
    frames = []
    for array, capture_ts in source.read_frames(into=pump.loan):
        pump.put(array, capture_ts)
        frames.append(reader.latest().copy())
    pump.mirror.sync(source.stats)
    assert source.in_place == [True, False, False, True]
    assert [f.capture_ts for f in frames] == [1000.0, 1001.0, 1002.0, 1003.0]
    assert [frame_index(f.array) for f in frames] == [0, 1, 2, 3]
    assert frames[2].shape == (240, 320, 3)  # 640x480 downscaled into the 320x240 ring
    assert pump.downscaled == 1
    status = reader.status()
    assert (status.frames, status.read_errors, status.state) == (4, 1, ConnectionState.CONNECTED)
    assert status.write_seq == 4


def test_stop_event_ends_the_loop(ring) -> None:
    writer, reader = ring
    stop = threading.Event()
    source = ScriptedSource(["in_place"] * 10, stop)
    pump = _Pump(writer, stop, parent_pid=os.getppid())
    assert pump.run(source) == EXIT_OK
    assert reader.status().write_seq == 3


def test_a_changed_parent_means_orphaned(ring) -> None:
    writer, _ = ring
    stop = threading.Event()
    pump = _Pump(writer, stop, parent_pid=1 if os.getppid() != 1 else 2)
    pump.on_progress()
    assert pump.orphaned and stop.is_set()


def _args(pool: str, url: str):
    from kvs_pool.config import parse_config
    from kvs_pool.workers.decoder import DecoderArgs
    config = parse_config(f"pool: {{name: {pool}}}\ndefaults: {{max_consecutive_errors: 1, "
                          "backoff: {initial_s: 0.1, max_s: 0.2}}\n"
                          f"cameras: [{{id: cam, source: {{url: '{url}'}}}}]\n")
    return DecoderArgs(pool=pool, camera=config.cameras[0])


def test_exit_codes_missing_ring_and_dead_source(pool_name: str) -> None:
    from kvs_pool.workers import EXIT_CONFIG, EXIT_GAVE_UP
    from kvs_pool.workers.decoder import run_decoder
    dead = "http://127.0.0.1:9/live.m3u8"  # discard port: connection refused
    assert run_decoder(_args(pool_name, dead), threading.Event()) == EXIT_CONFIG  # no ring
    owner = create_ring(pool_name, "cam", RingGeometry(320, 240, slots=2))
    try:
        assert run_decoder(_args(pool_name, dead), threading.Event()) == EXIT_GAVE_UP
        with RingReader.attach(pool_name, "cam") as reader:
            status = reader.status()
        assert status.read_errors >= 1 and status.producer_pid == 0
        assert status.state == ConnectionState.ERROR  # stays visible while the pool backs off
    finally:
        owner.unlink()
