"""The session URL manager (real boto3 against the emulator) and the KVS source feeding a real
shared-memory ring: the path the decoder worker runs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kvs_world import STREAM, make_source, read_until

from kvs_pool.emulator import EmulatorServer
from kvs_pool.ring import ConnectionState, RingGeometry, RingReader, RingWriter, create_ring
from kvs_pool.sources.base import SourceState
from kvs_pool.sources.kvs_session import KVSSession, SessionOptions
from kvs_pool.synth import frame_index


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _session(emu: EmulatorServer, clock: Clock, refreshes: list[int]) -> KVSSession:
    options = SessionOptions(stream_name=STREAM, region="us-east-1", endpoint_url=emu.base_url,
                             hls_session_seconds=300, refresh_margin_s=30)
    return KVSSession(options, clock, on_refresh=lambda: refreshes.append(1))


def test_url_cached_until_the_margin_then_refreshed_once_by_racing_threads(emu: EmulatorServer) -> None:
    clock, refreshes = Clock(), []
    session = _session(emu, clock, refreshes)
    first = session.current()
    assert "getHLSMasterPlaylist.m3u8?SessionToken=" in first.url
    clock.now += 269
    assert session.current() is first and not session.due()
    clock.now += 2                                   # inside the 30 s margin
    assert session.due()
    barrier = threading.Barrier(8)

    def racer() -> object:
        barrier.wait()
        return session.current()

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: racer(), range(8)))
    assert len({id(s) for s in got}) == 1 and got[0] is not first
    assert got[0].url != first.url and got[0].serial == 2 and refreshes == [1]


def test_refresh_of_a_stale_session_happens_once(emu: EmulatorServer) -> None:
    clock, refreshes = Clock(), []
    session = _session(emu, clock, refreshes)
    stale = session.current()
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda _: session.refresh(stale), range(6)))
    assert len({s.url for s in got}) == 1 and got[0] is not stale and refreshes == [1]
    session.reset()
    assert session.current().serial == 3 and refreshes == [1]   # a reconnect, not a refresh


def test_decoder_path_into_a_ring(emu: EmulatorServer, pool_name: str) -> None:
    owner = create_ring(pool_name, "cam-a", RingGeometry(320, 180, slots=4))
    writer = RingWriter.attach(pool_name, "cam-a")
    reader = RingReader.attach(pool_name, "cam-a")
    got: list[tuple[int, float, float]] = []
    source = make_source(emu)
    try:
        def step(seen: list) -> bool:
            writer.commit(seen[-1].ts)
            writer.set_state(int(source.stats.state))
            frame = reader.next(timeout=5)
            assert frame is not None
            got.append((frame_index(frame.array), frame.capture_ts, seen[-1].ts))
            return len(got) >= 12

        with source:
            seen = read_until(source, step, into=writer.loan)
        assert all(s.loaned for s in seen)           # decoded frames copied into the slot
        assert [g[0] for g in got] == [s.index for s in seen]
        assert all(abs(g[1] - g[2]) < 1e-6 for g in got)
        assert reader.status().state == ConnectionState.CONNECTED == SourceState.CONNECTED
    finally:
        reader.close()
        writer.close()
        owner.unlink()


def test_state_numbers_match_the_ring() -> None:
    assert {s.name: int(s) for s in SourceState} == {s.name: int(s) for s in ConnectionState}


def test_progress_hook_runs_while_connected_without_frames(emu: EmulatorServer) -> None:
    emu.stall(None)
    beats: list[float] = []
    source = make_source(emu, stall_timeout_s=60.0)
    source.control.on_progress = lambda: beats.append(time.monotonic())
    threading.Timer(3.0, source.control.stop.set).start()
    with source:
        frames = list(source.read_frames())
    assert len(frames) <= 5 and len(beats) >= 3   # at most the live-edge fragment
    assert max(b - a for a, b in zip(beats, beats[1:])) < 1.5
