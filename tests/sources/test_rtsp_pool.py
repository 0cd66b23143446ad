"""A real ``kvs-pool run`` with RTSP cameras on GStreamer's RTSP server: the password from the
environment, a wrong one from a file (a clear 401 in the logs; neither password in any log line
or metric), and a SIGSTOPped server detected as stalled, then frames again after SIGCONT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_harness import PoolRun

from tests.polling import wait_for
from tests.sources.rtsp_world import RtspServer

RIGHT, WRONG = "Right-pw-31", "Wrong-pw-47"


@pytest.fixture
def server() -> Iterator[RtspServer]:
    rtsp = RtspServer(user="viewer", password=RIGHT,
                      extra=("--width", "320", "--height", "240")).start()
    yield rtsp
    rtsp.stop()


def warnings(pool: PoolRun, camera: str) -> list[str]:
    """The WARNING messages a camera's decoder logged."""
    return [r["msg"] for r in pool.logs()
            if r.get("level") == "warning" and r.get("camera_id") == camera]


def test_pool_reads_rtsp_with_secrets_redacted_and_detects_a_stalled_server(
        server: RtspServer, pool_run: PoolRun, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pool = pool_run
    monkeypatch.setenv("GATE_PW", RIGHT)          # the pool process inherits it
    (tmp_path / "bad.pw").write_text(WRONG + "\n")
    url = f"rtsp://127.0.0.1:{server.port}/test"
    pool.write_config({"gate": url, "bad": url}, per_camera={
        "gate": {"source": {"url": url, "username": "viewer", "password_env": "GATE_PW"},
                 "stall": {"frame_timeout_s": 3, "heartbeat_timeout_s": 10}},
        "bad": {"source": {"url": url, "username": "viewer",
                           "password_file": str(tmp_path / "bad.pw")}}})
    pool.start()
    seen = pool.wait_frames("gate", 25, timeout=90)
    wait_for(lambda: [m for m in warnings(pool, "bad") if "401 Unauthorized" in m], 60,
             "the wrong password reported as 401")

    status, metrics = pool.scrape()
    assert status == 200 and 'camera_id="gate"' in metrics
    text = pool.log_path.read_text() + metrics
    for secret in (RIGHT, WRONG, "viewer:"):
        assert secret not in text

    server.pause()
    wait_for(lambda: [m for m in warnings(pool, "gate") if "stalled" in m or "timed out" in m],
             60, "the stall to be detected")
    server.resume()
    pool.wait_frames("gate", pool.frames("gate") + 25, timeout=90)
    assert pool.frames("gate") > seen
    pool.assert_clean_exit()
