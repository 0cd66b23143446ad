"""The decoder's exit code says what the supervisor should do, chosen by the source error's
type: a KVS source that gave up after transient errors exits 4 (normal backoff), a permanent
cause (no such stream) exits 3 (the maximum backoff). Real emulator, real boto3, real ring."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kvs_pool.config import parse_config
from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec
from kvs_pool.ring import RingGeometry, create_ring
from kvs_pool.workers import EXIT_CONFIG, EXIT_GAVE_UP
from kvs_pool.workers.decoder import DecoderArgs, run_decoder

STREAM = StreamSpec("exits-cam", width=160, height=96, fps=10, gop=10, seconds=2)


@pytest.fixture
def emulator(aws_env: None) -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(streams=(STREAM,))) as server:
        yield server


def _decode(pool: str, server: EmulatorServer, stream: str) -> int:
    config = parse_config(f"""
pool: {{name: {pool}}}
cameras:
  - id: cam
    max_consecutive_errors: 2
    backoff: {{initial_s: 0.05, max_s: 0.1}}
    max_resolution: [160, 96]
    source: {{kvs: {{stream_name: {stream}, region: us-east-1,
                     endpoint_url: "{server.base_url}"}}}}
""", check_files=False)
    owner = create_ring(pool, "cam", RingGeometry(160, 96, slots=2))
    try:
        return run_decoder(DecoderArgs(pool, config.cameras[0]), threading.Event())
    finally:
        owner.unlink()


def test_giving_up_after_transient_errors_is_exit_4(pool_name: str,
                                                    emulator: EmulatorServer) -> None:
    emulator.error_burst(500, count=100, plane="control", api="GetHLSStreamingSessionURL")
    assert _decode(pool_name, emulator, STREAM.name) == EXIT_GAVE_UP


def test_a_stream_that_does_not_exist_is_exit_3(pool_name: str,
                                                emulator: EmulatorServer) -> None:
    assert _decode(pool_name, emulator, "no-such-stream") == EXIT_CONFIG
