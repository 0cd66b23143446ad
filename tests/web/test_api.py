"""The JSON API and images against real rings: /api/status is the CLI's document plus the
page's fields, latest.jpg is the ring's frame (scaled on request) encoded once per frame,
live.mjpeg streams new frames, /api/events reads the jsonl files, errors are JSON 404/400/503."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from polling import wait_for
from ringpool import RingPool, Served, pattern

from kvs_pool.metrics.status_doc import status_document


def _decode(body: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def _means(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, 3).mean(axis=0)


def test_status_is_the_cli_document_plus_page_fields(ring_pool: RingPool, served: Served) -> None:
    seq = ring_pool.write("front", pattern(1))
    code, doc = served.json("/api/status")
    assert code == 200
    cli = status_document(ring_pool.pool, {"workers": [w.__dict__ for w in ring_pool.views]},
                          ["front", "yard"])
    assert doc["pool"] == cli["pool"]
    for ours, theirs in zip(doc["cameras"], cli["cameras"], strict=True):
        for key in ("camera_id", "running", "state", "frames", "restarts", "up", "pid"):
            assert ours[key] == theirs[key], key
    front, yard = doc["cameras"]
    assert (front["width"], front["height"], front["seq"]) == (320, 240, seq)
    assert front["health"] is None
    assert yard["last_frame_age"] is None          # never had a frame: inf becomes null
    assert "no frame" in yard["health"]
    assert [w["name"] for w in doc["workers"]] == ["decoder-front", "decoder-yard"]
    assert doc["workers"][0]["rss_bytes"] > 0       # our own pid stands in for the decoder
    assert doc["totals"]["cameras"] == 2 and doc["totals"]["healthy"] == 1
    assert doc["supervisor"]["cpu"] is None               # one sample: no CPU figure yet
    again = wait_for(lambda: (d := served.json("/api/status")[1])["supervisor"]["cpu"]
                     is not None and d, 10, "a CPU figure from the second sample")
    assert again["totals"]["cpu"] is not None and again["workers"][0]["cpu"] is not None
    assert 0 <= again["supervisor"]["cpu"] < (os.cpu_count() or 1) + 0.5


def test_latest_jpeg_is_the_rings_newest_frame(ring_pool: RingPool, served: Served) -> None:
    ring_pool.write("front", pattern(1))
    seq = ring_pool.write("front", pattern(2))
    code, headers, body = served.get("/api/cameras/front/latest.jpg")
    assert code == 200 and headers["Content-Type"] == "image/jpeg"
    assert int(headers["X-Frame-Seq"]) == seq
    image = _decode(body)
    assert image.shape == (240, 320, 3)
    assert np.abs(_means(image) - _means(pattern(2))).max() < 3
    assert np.abs(_means(image) - _means(pattern(1))).max() > 3  # not the older frame

    code, _, body = served.get("/api/cameras/front/latest.jpg?width=160")
    assert code == 200 and _decode(body).shape == (120, 160, 3)
    code, _, body = served.get("/api/cameras/front/latest.jpg?width=4000")  # never enlarged
    assert code == 200 and _decode(body).shape == (240, 320, 3)


def test_one_encode_per_frame_whatever_the_number_of_viewers(ring_pool: RingPool,
                                                             served: Served) -> None:
    ring_pool.write("front", pattern(3))
    path = "/api/cameras/front/latest.jpg?width=160"
    with ThreadPoolExecutor(16) as pool:
        bodies = list(pool.map(lambda _: served.get(path)[2], range(32)))
    assert len(set(bodies)) == 1
    assert served.app.encoder.encodes("front") == 1
    ring_pool.write("front", pattern(4))
    with ThreadPoolExecutor(16) as pool:
        again = list(pool.map(lambda _: served.get(path)[2], range(32)))
    assert len(set(again)) == 1 and again[0] != bodies[0]
    assert served.app.encoder.encodes("front") == 2


@pytest.mark.parametrize("path, code, words", [
    ("/api/cameras/nope/latest.jpg", 404, "no camera 'nope'"),
    ("/api/cameras/nope/live.mjpeg", 404, "no camera 'nope'"),
    ("/api/events?camera=nope", 404, "no camera 'nope'"),
    ("/api/nothing", 404, "no such API route"),
    ("/api/cameras/front/latest.jpg?width=abc", 400, "width='abc': not an integer"),
    ("/api/cameras/front/latest.jpg?width=2", 400, "width=2: must be between 16"),
    ("/api/cameras/front/live.mjpeg?fps=0", 400, "fps=0: must be between 0.1 and 30"),
    ("/api/cameras/front/live.mjpeg?fps=fast", 400, "fps='fast': not a number"),
    ("/api/events?limit=-1", 400, "limit=-1: must be between 1"),
    ("/api/cameras/yard/latest.jpg", 503, "camera 'yard': no frame yet"),
])
def test_errors_are_json_naming_the_fault(ring_pool: RingPool, served: Served, path: str,
                                          code: int, words: str) -> None:
    ring_pool.write("front", pattern(1))
    got, headers, body = served.get(path)
    assert got == code
    assert headers["Content-Type"] == "application/json"
    assert words in json.loads(body)["error"]


def test_metrics_and_healthz_are_still_served(ring_pool: RingPool, served: Served) -> None:
    code, _, body = served.get("/metrics")
    assert code == 200 and b"kvs_hls_frames_total" in body
    code, _, body = served.get("/healthz")
    assert code == 503 and json.loads(body)["unhealthy"].keys() == {"front", "yard"}
    code, _, body = served.get("/elsewhere")
    assert code == 404 and b"try /" in body


def test_the_page_needs_nothing_from_another_origin(served: Served) -> None:
    code, headers, page = served.get("/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    files = re.findall(rb'(?:src|href)="(/static/[^"]+)"', page)
    assert sorted(files) == [b"/static/app.js", b"/static/style.css"]
    for name in files:
        code, _, body = served.get(name.decode())
        assert code == 200 and body
        assert not re.search(rb"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", body), name
    assert served.get("/static/../routes.py")[0] == 404


def _event(camera: str, ts: float, kind: str = "start") -> dict:
    return {"event_id": f"{camera}-{ts}", "type": kind, "camera_id": camera, "class": "person",
            "score": 0.9, "detected_ts": ts, "frame_ts": ts - 0.5}


def test_events_newest_first_per_camera_and_limited(tmp_path: Path, served: Served) -> None:
    lines = [_event("front", 10), _event("yard", 11), _event("front", 12),
             _event("front", 12)]                     # a publisher retry repeats a line
    text = "".join(json.dumps(e) + "\n" for e in lines) + "{torn line\n"
    (tmp_path / "events.jsonl").write_text(text)
    code, doc = served.json("/api/events")
    assert code == 200
    assert [e["detected_ts"] for e in doc["events"]] == [12, 11, 10]
    code, doc = served.json("/api/events?camera=front&limit=1")
    assert [(e["camera_id"], e["detected_ts"]) for e in doc["events"]] == [("front", 12)]
    with open(tmp_path / "events.jsonl", "a") as fh:  # appended later: seen on the next call
        fh.write(json.dumps(_event("yard", 13, "end")) + "\n")
    assert served.json("/api/events?limit=1")[1]["events"][0]["type"] == "end"


def _parts(resp, count: int) -> list[tuple[int, bytes]]:
    """Read ``count`` parts of a multipart/x-mixed-replace body: (X-Frame-Seq, JPEG)."""
    parts = []
    while len(parts) < count:
        assert resp.readline() == b"--frame\r\n"
        headers = {}
        while (line := resp.readline()) != b"\r\n":
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        data = resp.read(int(headers["content-length"]))
        assert resp.read(2) == b"\r\n"
        parts.append((int(headers["x-frame-seq"]), data))
    return parts


def test_mjpeg_streams_each_new_frame_once(ring_pool: RingPool, served: Served) -> None:
    ring_pool.write("front", pattern(0))
    stop = threading.Event()

    def produce() -> None:
        seed = 1
        while not stop.wait(0.1):
            ring_pool.write("front", pattern(seed))
            seed += 1
    writer = threading.Thread(target=produce)
    writer.start()
    try:
        url = served.url + "/api/cameras/front/live.mjpeg?fps=30&width=160"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
            parts = _parts(resp, 8)
    finally:
        stop.set()
        writer.join()
    seqs = [seq for seq, _ in parts]
    assert seqs == sorted(set(seqs))                  # each frame once, in order
    assert all(_decode(data).shape == (120, 160, 3) for _, data in parts)


def test_a_viewer_that_stops_reading_is_dropped_after_the_write_timeout(
        ring_pool: RingPool, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from kvs_pool.web import mjpeg
    monkeypatch.setattr(mjpeg, "WRITE_TIMEOUT_S", 0.5)
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    stop = threading.Event()

    def produce() -> None:  # incompressible frames fill the socket buffers quickly
        while not stop.wait(0.02):
            ring_pool.write("front", np.roll(noise, ring_pool.writers["front"].seq, axis=1))
    writer = threading.Thread(target=produce)
    writer.start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(served.server.address)
        sock.sendall(b"GET /api/cameras/front/live.mjpeg?fps=30 HTTP/1.1\r\n\r\n")
        streaming = lambda: [t for t in threading.enumerate()  # noqa: E731
                             if "process_request" in t.name and t.is_alive()]
        wait_for(streaming, 30, "the viewer's server thread")
        wait_for(lambda: not streaming(), 60, "the stalled viewer's thread to give up")
        sock.settimeout(30)
        while sock.recv(1 << 20):  # what was buffered, then the server's close
            pass
    finally:
        stop.set()
        writer.join()
        sock.close()
    assert served.get("/healthz")[0] == 503   # the server still answers


def test_a_recreated_ring_is_followed_and_a_removed_one_let_go(ring_pool: RingPool,
                                                                served: Served) -> None:
    ring_pool.write("front", pattern(1))
    assert served.get("/api/cameras/front/latest.jpg")[0] == 200
    ring_pool.writers.pop("front").close()       # a reload removes the camera, then adds it back
    ring_pool.owners.pop("front").unlink()
    ring_pool.views = [v for v in ring_pool.views if v.camera_id != "front"]
    ring_pool.add("front")
    ring_pool.write("front", pattern(9))
    code, _, body = served.get("/api/cameras/front/latest.jpg")
    assert code == 200
    assert np.abs(_means(_decode(body)) - _means(pattern(9))).max() < 3

    ring_pool.write("yard", pattern(2, 160, 120))
    assert served.get("/api/cameras/yard/latest.jpg")[0] == 200
    assert served.app.encoder.encodes("yard") == 1
    ring_pool.writers.pop("yard").close()        # removed for good: its mapping is let go
    ring_pool.owners.pop("yard").unlink()
    ring_pool.views = [v for v in ring_pool.views if v.camera_id != "yard"]
    assert served.json("/api/status")[0] == 200
    assert served.app.encoder.encodes("yard") == 0   # no state left for it


def test_live_views_are_bounded(ring_pool: RingPool, served: Served) -> None:
    ring_pool.write("front", pattern(1))
    served.app.live_slots = threading.BoundedSemaphore(1)
    url = served.url + "/api/cameras/front/live.mjpeg"
    with urllib.request.urlopen(url, timeout=30) as first:
        _parts(first, 1)
        code, _, body = served.get("/api/cameras/front/live.mjpeg")
        assert code == 503 and "live views are open already" in json.loads(body)["error"]
    wait_for(lambda: served.get("/api/cameras/front/latest.jpg")[0] == 200
             and served.app.live_slots.acquire(blocking=False), 30,
             "the first viewer's slot to be released")


def test_a_failing_route_answers_500_and_the_port_stays_up(
        ring_pool: RingPool, served: Served, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict:
        raise RuntimeError("boom")
    monkeypatch.setattr(served.app.status, "document", broken)
    code, doc = served.json("/api/status")
    assert code == 500 and "internal error serving /api/status" in doc["error"]
    assert "GET /api/status failed" in caplog.text and "boom" in caplog.text
    assert served.get("/healthz")[0] == 503
