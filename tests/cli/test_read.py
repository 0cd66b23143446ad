"""`kvs-pool read`: one stream through the pool's own sources, against the KVS emulator and a
real H.264 file, in a real subprocess (status lines, JPEGs, metrics, Ctrl-C, one-line errors)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from polling import wait_for
from prometheus_client.parser import text_string_to_metric_families

from kvs_pool.cli.read import StatusLine
from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec
from kvs_pool.sources import SourceState, SourceStats
from kvs_pool.synth import VideoSpec, encode_file

STREAM = StreamSpec(name="reader-cam", width=320, height=180, fps=10, gop=10)
STATUS = re.compile(r"^fps +[0-9.]+ \| connected \| frame \d\d:\d\d:\d\d\.\d{3}Z lag -?[0-9.]+ s "
                    r"\| refreshes \d+ \| errors \d+$")


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(streams=(STREAM,))) as server:
        yield server


def _env(credentials: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    if credentials:
        env.update(AWS_ACCESS_KEY_ID="emulator", AWS_SECRET_ACCESS_KEY="emulator")
    return env


def _read(*args: str, credentials: bool = True, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kvs_pool", "read", *args], env=_env(credentials),
                          capture_output=True, text=True, timeout=timeout)


def _kvs_args(emulator: EmulatorServer, stream: str = STREAM.name) -> list[str]:
    return ["--stream-name", stream, "--region", "us-east-1", "--endpoint-url", emulator.base_url]


def test_reads_kvs_stream_prints_status_and_saves_every_nth(emulator: EmulatorServer,
                                                            tmp_path: Path) -> None:
    out = _read(*_kvs_args(emulator), "--max-frames", "30", "--save", str(tmp_path),
                "--save-every", "10")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(STATUS.match(line) for line in lines[:-1]), out.stdout
    assert re.match(r"read 30 frames in [0-9.]+ s .* 0 errors, 3 saved$", lines[-1]), lines[-1]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["frame-000001.jpg", "frame-000011.jpg", "frame-000021.jpg"]
    assert cv2.imread(str(tmp_path / saved[0])).shape == (180, 320, 3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serves_the_six_kvs_hls_metrics_and_stops_on_ctrl_c(emulator: EmulatorServer) -> None:
    free_port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kvs_pool", "read", *_kvs_args(emulator),
                             "--metrics-port", str(free_port)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{free_port}/metrics"
        families = wait_for(lambda: _frames_counted(url), what="frames in kvs-pool read's metrics")
        assert {"kvs_hls_reconnects", "kvs_hls_frames", "kvs_hls_url_refreshes",
                "kvs_hls_read_errors", "kvs_hls_last_frame_timestamp",
                "kvs_hls_connection_state"} <= set(families)
        assert families["kvs_hls_connection_state"] == SourceState.CONNECTED
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stdout.splitlines()[-1].startswith("read ")


def _frames_counted(url: str) -> dict[str, float] | None:
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return None
    values = {f.name: f.samples[0].value for f in text_string_to_metric_families(text)
              if f.samples and f.samples[0].labels.get("camera_id") == STREAM.name}
    return values if values.get("kvs_hls_frames", 0) > 0 else None


def test_reads_a_url_source(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    encode_file(clip, VideoSpec(width=160, height=96, fps=25, gop=25, frames=50))
    out = _read("--url", str(clip), "--max-frames", "20", "--target-fps", "25")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith("read 20 frames")


@pytest.mark.parametrize("case, pattern", [
    ("unknown stream", r"stream 'no-such-stream'.*ResourceNotFoundException.*check the stream"),
    ("no credentials", r"no AWS credentials found: set AWS_PROFILE"),
])
def test_actionable_one_line_errors(emulator: EmulatorServer, case: str, pattern: str) -> None:
    stream = "no-such-stream" if case == "unknown stream" else STREAM.name
    out = _read(*_kvs_args(emulator, stream), credentials=case != "no credentials")
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("kvs-pool read:")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), out.stderr
    assert "Traceback" not in out.stderr


def test_status_line_reports_waiting_reason_before_the_first_frame() -> None:
    stats = SourceStats(state=SourceState.CONNECTING)
    stats.failed("GetHLSStreamingSessionURL: no fragment in the last 30 s (producer idle?)")
    clock = iter([0.0, 1.0, 2.0])
    line = StatusLine(stats, sys.stdout, clock=lambda: next(clock))
    text = line.render(1.0, 1000.0)
    assert text.startswith("fps   0.0 | connecting | no frame yet | refreshes 0 | errors 1")
    assert text.endswith("waiting: GetHLSStreamingSessionURL: no fragment in the last 30 s "
                         "(producer idle?)")
    for _ in range(5):
        stats.delivered(capture_ts=998.5, now_mono=1.5)
    text = line.render(2.0, 1000.0)
    assert text.startswith("fps   5.0 | connecting | frame 00:16:38.500Z lag 1.50 s")
    assert "waiting" not in text
