"""Slow and stalled viewers cost the pool nothing it needs: with 20 clients reading one
camera's MJPEG stream, one client that never reads it and one that never finishes its request,
/healthz and /metrics keep answering, a SIGKILLed decoder is still restarted, every reader
keeps getting frames, the camera is encoded at most once per new frame, and SIGTERM still
stops the pool cleanly. On the same pool, /api/status holds every field of
`kvs-pool status --json` with the same values."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from polling import wait_for
from pool_harness import PoolRun
from test_pool_demo import _demo_config as write_demo_config  # the demo, shrunk to 320x240

READERS = 20
WINDOW_S = 15.0


class Reader(threading.Thread):
    """One MJPEG viewer that reads as fast as frames come; counts the frames it got."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.seqs, self.error = url, stop, [], None

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=30) as resp:
                while not self.stop.is_set():
                    line = resp.readline()
                    if line.startswith(b"X-Frame-Seq:"):
                        self.seqs.append(int(line.split(b":")[1]))
                    elif not line:
                        raise EOFError("stream ended")
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def _stalled_client(base: str, request: str) -> socket.socket:
    """A client that sends ``request`` and then never reads a byte of the answer."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(request.encode())
    return sock


def _answers(url: str) -> int:
    """Status of a GET that must complete within 5 s (a blocked server fails the test)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _camera(run: PoolRun, camera: str) -> dict:
    with urllib.request.urlopen(run.metrics_url() + "/api/status", timeout=10) as resp:
        doc = json.load(resp)
    return next(c for c in doc["cameras"] if c["camera_id"] == camera)


def _same_as_cli(run: PoolRun, base: str) -> None:
    """/api/status holds every field of `kvs-pool status --json`, with the same values."""
    out = subprocess.run([sys.executable, "-m", "kvs_pool", "status", str(run.config_path),
                          "--json"], capture_output=True, text=True, timeout=60, check=True)
    cli = json.loads(out.stdout)
    with urllib.request.urlopen(base + "/api/status", timeout=10) as resp:
        api = json.load(resp)
    assert api["pool"] == cli["pool"]
    steady = ("camera_id", "running", "state", "restarts", "pid", "up", "last_exit")
    assert [{k: c[k] for k in steady} for c in api["cameras"]] == \
        [{k: c[k] for k in steady} for c in cli["cameras"]]
    assert all(set(c) <= set(a) for c, a in zip(cli["cameras"], api["cameras"]))
    assert [w["name"] for w in api["workers"]] == [w["name"] for w in cli["workers"]]
    assert all(set(c) <= set(a) for c, a in zip(cli["workers"], api["workers"]))


def test_stalled_and_many_viewers_never_delay_health_metrics_or_supervision(
        pool_run: PoolRun) -> None:
    cameras = write_demo_config(pool_run)
    pool_run.start()
    for cam in cameras:
        pool_run.wait_frames(cam, more_than=3, timeout=180)
    base = pool_run.metrics_url()
    _same_as_cli(pool_run, base)
    path = "/api/cameras/front/live.mjpeg?fps=10"
    stalled = _stalled_client(base, f"GET {path} HTTP/1.1\r\n\r\n")
    half = _stalled_client(base, "GET /api/sta")  # a request line that never ends
    stop = threading.Event()
    readers = [Reader(base + path, stop) for _ in range(READERS)]
    try:
        start = _camera(pool_run, "front")
        assert start["pipelines"] == ["motion"] and start["health"] is None
        for reader in readers:
            reader.start()
        victim = pool_run.decoder_pid("yard")
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + WINDOW_S
        while time.monotonic() < deadline:
            assert _answers(base + "/healthz") in (200, 503)
            assert _answers(base + "/metrics") == 200
            time.sleep(0.5)
        wait_for(lambda: pool_run.decoder_pid("yard") not in (0, victim), 60,
                 "the killed decoder to be restarted")
        end = _camera(pool_run, "front")
    finally:
        stop.set()
        stalled.close()
        half.close()
    assert [r.error for r in readers] == [None] * READERS
    new_frames = end["seq"] - start["seq"]
    assert new_frames > 10
    assert all(len(r.seqs) >= new_frames // 3 for r in readers), [len(r.seqs) for r in readers]
    encodes = end["jpeg_encodes"] - start["jpeg_encodes"]
    assert encodes <= new_frames + 1, (encodes, new_frames)
    pool_run.wait_frames("yard", more_than=pool_run.frames("yard"), timeout=60)
    pool_run.assert_clean_exit()
