"""The inference worker on a real ring: frames written here, the real YOLOv3-tiny, the outbox.

A person (cut from Debian's darknet ``person.jpg``) walks across a static scene into a zone;
the worker must emit exactly one confirmed ``start`` (and its ``end`` once the person is gone),
skip static frames at the motion gate, and write its stats file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from polling import wait_for

from kvs_pool.config import parse_config
from kvs_pool.ring import RingGeometry, RingWriter, create_ring
from kvs_pool.telemetry_page import read_page
from kvs_pool.workers import EXIT_CONFIG, EXIT_OK
from kvs_pool.workers.inference import run_inference, worker_name

PHOTOS = Path(os.environ.get("KVS_POOL_TEST_PHOTOS") or
              Path(__file__).resolve().parents[2] / ".cache/darknet/usr/share/darknet/data")
W, H = 640, 360


def config_text(pool: str, tmp: Path, cache: Path, detector: str = "classes: [person]") -> str:
    (tmp / "clip.mp4").write_bytes(b"")
    return f"""
pool: {{name: {pool}, state_dir: {tmp}/state}}
cameras:
  - id: cam1
    source: {{url: {tmp}/clip.mp4}}
pipelines:
  - name: people
    cameras: [cam1]
    motion_gate: {{refresh_s: 0.3}}
    detector: {{type: yolo, model: yolov3-tiny, input_size: 416, cache_dir: {cache}, {detector}}}
    roi: {{cam1: [{{name: right, points: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}}]}}
    confirm: {{hits: 2, window: 4, end_after_s: 1.0, cooldown_s: 30}}
    publishers: [{{type: jsonl, path: {tmp}/events.jsonl}}]
"""


def person_crop() -> np.ndarray:
    image = cv2.imread(str(PHOTOS / "person.jpg"))
    if image is None:
        pytest.fail(f"{PHOTOS / 'person.jpg'} is missing: mkdir -p .cache/darknet && cd "
                    ".cache/darknet && apt-get download darknet && dpkg -x darknet_*.deb .")
    return cv2.resize(image[60:410, 170:300], (92, 248))


def scene(person: np.ndarray | None, x: int = 0) -> np.ndarray:
    frame = np.full((H, W, 3), (90, 110, 100), np.uint8)
    cv2.rectangle(frame, (20, 300), (200, 340), (60, 60, 60), -1)     # something static
    if person is not None:
        frame[60:308, x:x + 92] = person
    return frame


def write_walk(writer: RingWriter, stop: threading.Event) -> None:
    """Static scene, a person walking left to right (then gone), static again; ~15 fps."""
    person = person_crop()
    frames = [scene(None)] * 10 + [scene(person, x) for x in range(0, W - 92, 8)]
    frames += [scene(None)] * 60
    for frame in frames:
        if stop.is_set():
            return
        np.copyto(writer.loan(H, W), frame)
        writer.commit(time.time())
        writer.heartbeat()
        time.sleep(1 / 15)


@pytest.fixture
def ring(pool_name: str) -> Iterator[RingWriter]:
    owner = create_ring(pool_name, "cam1", RingGeometry(W, H, slots=8))
    writer = RingWriter.attach(pool_name, "cam1")
    yield writer
    writer.close()
    owner.unlink()


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_walk_into_the_zone_is_one_event(ring: RingWriter, pool_name: str, tmp_path: Path,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    config = parse_config(config_text(pool_name, tmp_path, tmp_path_factory.mktemp("models")))
    stop, writing = threading.Event(), threading.Event()
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run_inference((config, "people"), stop)))
    worker.start()
    try:
        stats_path = tmp_path / "state" / "stats" / f"{worker_name('people')}.json"
        assert wait_for(lambda: read_page(pool_name, worker_name("people")), 60), \
            "worker never published its telemetry page (model not loaded?)"
        write_walk(ring, writing)
        events_path = tmp_path / "events.jsonl"
        events = wait_for(lambda: [e for e in read_events(events_path) if e["type"] == "end"]
                          and read_events(events_path), 60)
    finally:
        writing.set()
        stop.set()
        worker.join(60)
    assert result == [EXIT_OK]
    stats = json.loads(stats_path.read_text())
    assert [(e["type"], e["class"], e["roi"]) for e in events] == [
        ("start", "person", "right"), ("end", "person", "right")], stats
    assert events[0]["presence_id"] == events[1]["presence_id"]
    assert events[0]["box"][0] >= W / 2 - 92 and events[0]["model"] == "yolov3-tiny"
    cam = stats["cameras"]["cam1"]
    assert cam["events_start"] == 1 and cam["events_end"] == 1
    assert cam["frames_processed"] > 10 and cam["frames_skipped_motion"] > 10
    assert stats["inference_seconds"]["count"] >= cam["frames_processed"]
    assert stats["outbox"]["depth"] == 0


def test_missing_ring_is_waited_for_with_heartbeats(pool_name: str, tmp_path: Path,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    config = parse_config(config_text(pool_name, tmp_path, tmp_path_factory.mktemp("models")))
    stop = threading.Event()
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run_inference((config, "people"), stop)))
    worker.start()
    def beat() -> float:
        return (read_page(pool_name, worker_name("people")) or {}).get("updated_mono", 0.0)
    try:
        first = wait_for(beat, 60)
        assert wait_for(lambda: beat() > first, 10), "telemetry page not refreshed"
    finally:
        stop.set()
        worker.join(60)
    assert result == [EXIT_OK]


def test_unusable_pipelines_exit_with_the_config_code(pool_name: str, tmp_path: Path,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("models")
    config = parse_config(config_text(pool_name, tmp_path, cache, "classes: [unicorn]"))
    assert run_inference((config, "people"), threading.Event()) == EXIT_CONFIG
    assert run_inference((config, "no-such-pipeline"), threading.Event()) == EXIT_CONFIG


def test_config_maps_onto_the_pipeline_steps(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"")
    config = parse_config(f"""
pool: {{name: p1, state_dir: {tmp_path}/state}}
cameras:
  - {{id: cam1, source: {{url: {tmp_path}/clip.mp4}}}}
  - {{id: cam2, source: {{url: {tmp_path}/clip.mp4}}}}
pipelines:
  - name: moves
    cameras: [cam1, cam2]
    max_fps: 2
    detector: {{type: motion, min_area: 0.01, label: movement}}
    roi: {{cam2: [{{name: gate, coords: pixels, mode: exclude, anchor: center,
                  points: [[0, 0], [100, 0], [100, 100]], max_area: 5000}}]}}
    confirm: {{hits: 2, window: 3, mode: median, score_threshold: 0.6, per_roi: true}}
""")
    from kvs_pool.pipeline import MotionDetector
    from kvs_pool.workers.inference import build_detector, camera_setups
    pipe = config.pipelines[0]
    detector = build_detector(pipe, tmp_path)
    assert isinstance(detector, MotionDetector) and detector.params.label == "movement"
    assert detector.params.min_area == 0.01
    cam1, cam2 = camera_setups(pipe)
    assert cam1.gate is None and cam1.zones == ()          # motion is the detector: no gate
    zone = cam2.zones[0]
    assert (zone.name, zone.mode, zone.coords, zone.anchor, zone.max_area) == (
        "gate", "exclude", "pixels", "center", 5000)
    assert (cam2.confirm.mode, cam2.confirm.score_threshold, cam2.confirm.per_roi) == (
        "median", 0.6, True)


def test_images_are_rendered_only_for_s3_and_as_it_asks(tmp_path: Path) -> None:
    from kvs_pool.workers.inference import build_renderer
    (tmp_path / "clip.mp4").write_bytes(b"")

    def pipeline(publishers: str):
        return parse_config(f"""
pool: {{name: p1, state_dir: {tmp_path}/state}}
cameras: [{{id: cam1, source: {{url: {tmp_path}/clip.mp4}}}}]
pipelines: [{{name: a, cameras: [cam1], publishers: {publishers}}}]
""").pipelines[0]

    assert build_renderer(pipeline(f"[{{type: jsonl, path: {tmp_path}/e.jsonl}}]")) is None
    frame = np.full((100, 200, 3), 50, np.uint8)
    event = {"class": "person", "score": 0.9, "box": [20.0, 20.0, 80.0, 90.0]}
    boxed = build_renderer(pipeline("[{type: s3, bucket: snaps, crop: true}]"))
    snapshot, crop = boxed(frame, event)
    image = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == frame.shape and np.abs(image.astype(int) - 50).max() > 100   # box drawn
    crop_h, crop_w = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR).shape[:2]
    assert abs(crop_h - 70) <= 1 and abs(crop_w - 60) <= 1
    plain, no_crop = build_renderer(pipeline("[{type: s3, bucket: snaps, draw_boxes: false}]"))(frame, event)
    assert no_crop is None
    assert np.abs(cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_COLOR).astype(int) - 50).max() < 5


def open_presence(label: str, last_seen: float, presence_id: str) -> dict:
    return {"class": label, "key_roi": None, "roi": "right", "presence_id": presence_id,
            "silent": False, "started_ts": last_seen - 5, "last_seen_ts": last_seen,
            "box": [400.0, 60.0, 492.0, 308.0], "score": 0.9}


def test_a_presence_open_at_a_restart_ends_once_and_is_not_restarted(
        ring: RingWriter, pool_name: str, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    config = parse_config(config_text(pool_name, tmp_path, tmp_path_factory.mktemp("models")))
    state_path = tmp_path / "state" / "confirm" / f"{worker_name('people')}.json"
    state_path.parent.mkdir(parents=True)
    now = time.time()
    cam1 = {"version": 1, "open": [open_presence("person", now, "p-before"),
                                   open_presence("car", now, "car-not-detected")],
            "last_start": [{"class": "person", "key_roi": None, "ts": now - 5}]}
    gone = {"version": 1, "open": [open_presence("person", now, "camera-removed")], "last_start": []}
    state_path.write_text(json.dumps({"pipeline": "people", "cameras": {"cam1": cam1, "gone": gone}}))
    stop, writing = threading.Event(), threading.Event()
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run_inference((config, "people"), stop)))
    worker.start()
    events_path = tmp_path / "events.jsonl"
    try:
        saved = wait_for(lambda: "gone" not in json.loads(state_path.read_text())["cameras"], 60)
        assert saved, "entries of a removed camera were kept"
        writer = threading.Thread(target=write_static, args=(ring, writing, 4.0))
        writer.start()
        assert wait_for(lambda: read_events(events_path), 30), "the restored presence never ended"
        writer.join(30)
    finally:
        writing.set()
        stop.set()
        worker.join(60)
    assert result == [EXIT_OK]
    assert [(e["type"], e["presence_id"]) for e in read_events(events_path)] == [("end", "p-before")]
    final = json.loads(state_path.read_text())["cameras"]["cam1"]
    assert final["open"] == [] and [s["class"] for s in final["last_start"]] == ["person"]


def write_static(writer: RingWriter, stop: threading.Event, seconds: float) -> None:
    """The empty scene at ~15 fps for ``seconds``."""
    frame, deadline = scene(None), time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        np.copyto(writer.loan(H, W), frame)
        writer.commit(time.time())
        writer.heartbeat()
        time.sleep(1 / 15)
