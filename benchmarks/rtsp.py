"""Benchmark the URL source on a live RTSP stream against a bare OpenCV read loop of the same
server, and the time a restarted server takes to deliver frames again.

    python benchmarks/rtsp.py [--quick] [--frames N] [--rounds N]

Server: GStreamer's RTSP server (``tests/sources/rtsp_server.py``, run by the system python3),
a live test pattern at 720p25 by x264enc (key frame every 25 frames), on 127.0.0.1, TCP.

CPU is ``time.process_time()`` of this process (every decoder thread) from the first frame of a
connection to its last (connection set-up excluded); baseline and candidates alternate in rounds
and each figure is the median over rounds:

* ``source_vs_bare_cv2``: ``URLFrameSource.read_frames(into=slot)`` at full rate (one decode
  thread, paced) vs ``cap.read(buf)`` with OpenCV's defaults: CPU per frame, and the ratio.
* ``sampled_5fps_vs_bare_cv2``: the source at ``target_fps=5`` (PyAV, non-reference frames left
  undecoded) vs the same bare loop: CPU per second of stream, and the ratio.
* ``restart_to_frame_s``: the server is stopped, stays down 3 s, starts again; seconds from its
  READY to the source's first frame (backoff 0.5 s x2 -> 2 s).

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # the RTSP server helper lives with the tests that use it

from kvs_pool.backoff import BackoffPolicy  # noqa: E402
from kvs_pool.sources.url import URLFrameSource, URLSourceOptions  # noqa: E402
from tests.sources.rtsp_world import RtspServer  # noqa: E402

FPS = 25
Run = Callable[[str, int], tuple[float, int, float]]   # url, frames -> (cpu s, frames, stream s)


def bare_cv2(url: str, frames: int) -> tuple[float, int, float]:
    """``cap.read(buf)`` on the stream, OpenCV's defaults (TCP, as the source uses)."""
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    try:
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    finally:
        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS")
    ok, buf = cap.read()
    assert ok, "bare cv2 could not read the stream"
    start, n = time.process_time(), 0
    while n < frames and cap.read(buf)[0]:
        n += 1
    used = time.process_time() - start
    cap.release()
    return used, n, n / FPS


def source(target_fps: float | None) -> Run:
    def run(url: str, frames: int) -> tuple[float, int, float]:
        slot = np.empty((720, 1280, 3), np.uint8)
        src = URLFrameSource(url, URLSourceOptions(target_fps=target_fps))
        want = frames if target_fps is None else max(2, int(frames * target_fps / FPS))
        n, start, first = 0, 0.0, 0.0
        for _array, ts in src.read_frames(into=lambda h, w, c: slot):
            if n == 0:
                start, first = time.process_time(), ts
            n += 1
            if n > want:
                break
        used = time.process_time() - start
        src.close()
        return used, n - 1, ts - first
    return run


def measure(url: str, frames: int, rounds: int) -> dict[str, dict[str, float]]:
    runs: dict[str, Run] = {"bare": bare_cv2, "source": source(None), "sampled": source(5.0)}
    per_frame: dict[str, list[float]] = {k: [] for k in runs}
    per_second: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(rounds):
        for name, run in runs.items():
            used, n, stream_s = run(url, frames)
            per_frame[name].append(used / max(n, 1) * 1000)
            per_second[name].append(used / max(stream_s, 1e-9) * 1000)
            print(f"  round {r + 1} {name:8s} {n:4d} frames {used:6.2f} s CPU "
                  f"{per_frame[name][-1]:6.2f} ms/frame {per_second[name][-1]:7.1f} ms/s",
                  flush=True)
    med = {k: (statistics.median(per_frame[k]), statistics.median(per_second[k])) for k in runs}
    return {
        "source_vs_bare_cv2": {"cand_ms_per_frame": med["source"][0],
                               "base_ms_per_frame": med["bare"][0],
                               "ratio": med["source"][0] / med["bare"][0]},
        "sampled_5fps_vs_bare_cv2": {"cand_cpu_ms_per_s": med["sampled"][1],
                                     "base_cpu_ms_per_s": med["bare"][1],
                                     "ratio": med["sampled"][1] / med["bare"][1]},
    }


def restart_to_frame(server: RtspServer) -> float:
    """Seconds from the restarted server's READY to the source's next frame."""
    options = URLSourceOptions(backoff=BackoffPolicy(initial_s=0.5, factor=2.0, max_s=2.0),
                               open_timeout_s=2.0, read_timeout_s=2.0, max_consecutive_errors=0)
    src = URLFrameSource(server.url, options)
    stamps: list[float] = []

    def read() -> None:
        for _ in src.read_frames():
            stamps.append(time.monotonic())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    while len(stamps) < 10:
        time.sleep(0.05)
    server.restart(down_s=3.0)
    ready = time.monotonic()
    while not stamps or stamps[-1] < ready:
        time.sleep(0.01)
    src.control.stop.set()
    thread.join(timeout=30)
    return next(t for t in stamps if t > ready) - ready


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 50 frames")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    frames, rounds = (50, 1) if args.quick else (args.frames, args.rounds)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    server = RtspServer().start()
    try:
        figures: dict[str, object] = dict(measure(server.url, frames, rounds))
        figures["restart_to_frame_s"] = round(restart_to_frame(server), 2)
    finally:
        server.stop()
    for name in ("source_vs_bare_cv2", "sampled_5fps_vs_bare_cv2"):
        row = figures[name]
        assert isinstance(row, dict)
        cand, base = list(row.values())[:2]
        print(f"{name:26s} candidate {cand:8.2f}  baseline {base:8.2f}  ratio {row['ratio']:.3f}")
    print(f"restart (3 s down) -> first frame: {figures['restart_to_frame_s']} s")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
