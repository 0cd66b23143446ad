"""End to end through a real pool: a person walking in a video → `kvs-pool run` → one event.

A clip (real H.264 from PyAV's libx264) of a person, cut from Debian's darknet ``person.jpg``,
walking across a static scene is served as a live Kinesis Video stream by the loopback emulator.
``kvs-pool run`` decodes it into a ring; the inference worker runs the motion gate, the real
YOLOv3-tiny, an ROI zone (right half) and confirmation, and the outbox delivers to a jsonl file.
The clip loops; the cool-down makes later walks silent, so exactly one start and one end come.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from kvs_pool.emulator import EmulatorServer
from kvs_pool.emulator.config import EmulatorConfig, StreamSpec

W, H, FPS = 640, 360, 10


def encode_walk(path: Path, person: np.ndarray) -> Path:
    """3 s of empty scene, the person walking left to right (~5 s), 4 s empty again."""
    def scene(x: int | None) -> np.ndarray:
        frame = np.full((H, W, 3), (90, 110, 100), np.uint8)
        cv2.rectangle(frame, (20, 300), (200, 340), (60, 60, 60), -1)
        if x is not None:
            frame[60:308, x:x + 92] = person
        return frame
    xs: list[int | None] = [None] * 30 + list(range(0, W - 92, 10)) + [None] * 40
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "0",
                          "preset": "veryfast"}
        for x in xs:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(scene(x), format="bgr24")))
        container.mux(stream.encode())
    return path


@pytest.fixture
def walk_stream(tmp_path: Path, photo) -> Iterator[str]:
    person = cv2.resize(photo("person.jpg")[60:410, 170:300], (92, 248))
    clip = encode_walk(tmp_path / "walk.mp4", person)
    spec = StreamSpec("walk", W, H, float(FPS), 10, file=clip)
    with EmulatorServer(EmulatorConfig(streams=(spec,))) as server:
        yield server.base_url


def pool_config(pool: str, tmp: Path, endpoint: str, cache: Path) -> Path:
    doc = {
        "pool": {"name": pool, "metrics": {"port": 0}, "state_dir": str(tmp / "state")},
        "aws": {"region": "us-east-1", "endpoint_url": endpoint},
        "defaults": {"max_resolution": [W, H], "ring_slots": 8},
        "cameras": [{"id": "cam1", "source": {"kvs": {"stream_name": "walk"}}}],
        "pipelines": [{
            "name": "people", "cameras": ["cam1"],
            "motion_gate": {"refresh_s": 5},
            "detector": {"type": "yolo", "model": "yolov3-tiny", "classes": ["person"],
                         "cache_dir": str(cache)},
            "roi": {"cam1": [{"name": "right", "points": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}]},
            "confirm": {"hits": 2, "window": 4, "end_after_s": 1.5, "cooldown_s": 600},
            "publishers": [{"type": "jsonl", "path": str(tmp / "events.jsonl")}]}],
    }
    path = tmp / "pool.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_walk_through_the_pool_is_one_event(walk_stream: str, pool_name: str, tmp_path: Path,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    config = pool_config(pool_name, tmp_path, walk_stream, tmp_path_factory.mktemp("models"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator"}
    log = (tmp_path / "pool.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "kvs_pool", "--log-format", "json", "run",
                             str(config), "--kill-grace", "3"],
                            stdout=log, stderr=log, env=env, start_new_session=True)
    path = tmp_path / "events.jsonl"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(e["type"] == "end" for e in events(path)):
            assert proc.poll() is None, (tmp_path / "pool.log").read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(15)                      # the clip loops: a second walk must stay silent
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log.close()
    got = events(path)
    assert [(e["type"], e["class"], e["roi"], e["camera_id"]) for e in got] == [
        ("start", "person", "right", "cam1"), ("end", "person", "right", "cam1")], \
        (tmp_path / "pool.log").read_text()[-3000:]
    assert got[0]["presence_id"] == got[1]["presence_id"]
    stats = json.loads((tmp_path / "state" / "stats" / "inference-people.json").read_text())
    cam = stats["cameras"]["cam1"]
    assert cam["frames_processed"] > 0 and cam["frames_skipped_motion"] > 0
