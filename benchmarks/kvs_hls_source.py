"""Benchmark the KVS HLS source (own playlist fetch + PyAV fragment decoder) against OpenCV
opening the same session URL, in one run, on a live emulator stream.

    python benchmarks/kvs_hls_source.py [--quick] [--size 1280x720]

The emulator runs in a child process (its serving CPU is not counted). For each reader, this
process's CPU time (``time.process_time``, all threads) over N live frames gives CPU ms per
frame; both readers copy each frame into one preallocated buffer (cv2: ``cap.read(buf)``; the
source: ``read_frames(into=...)``). Also: key-frame-only decoding at 1 fps (``target_fps=1``,
GOP = 1 s) with the source, which cv2 cannot do. Ends with one JSON line; ratios are source /
cv2 measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time

import numpy as np

from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec

CTX = mp.get_context("spawn")
STREAM = "bench-1"


def _serve(width: int, height: int, port_queue: mp.Queue, stop: mp.Event) -> None:
    spec = StreamSpec(STREAM, width=width, height=height, fps=25, gop=25, seconds=20)
    with EmulatorServer(EmulatorConfig(streams=(spec,))) as server:
        port_queue.put(server.base_url)
        stop.wait()


def _session_url(endpoint: str) -> str:
    import boto3
    kv = boto3.client("kinesisvideo", endpoint_url=endpoint, region_name="us-east-1")
    data = kv.get_data_endpoint(StreamName=STREAM, APIName="GET_HLS_STREAMING_SESSION_URL")
    media = boto3.client("kinesis-video-archived-media", endpoint_url=data["DataEndpoint"],
                         region_name="us-east-1")
    return media.get_hls_streaming_session_url(
        StreamName=STREAM, PlaybackMode="LIVE", ContainerFormat="FRAGMENTED_MP4")["HLSStreamingSessionURL"]


def _measure(frames_iter, count: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        next(frames_iter)
    cpu, wall = time.process_time(), time.monotonic()
    for _ in range(count):
        next(frames_iter)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {"cpu_ms_per_frame": 1000 * cpu / count, "fps": count / wall}


def _cv2_frames(endpoint: str, shape: tuple[int, int, int]):
    import cv2
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "live_start_index;-1"
    cap = cv2.VideoCapture(_session_url(endpoint), cv2.CAP_FFMPEG,
                           [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
    buf = np.empty(shape, np.uint8)
    try:
        while True:
            ok, out = cap.read(buf)
            if not ok:
                raise RuntimeError("cv2 read failed")
            yield out
    finally:
        cap.release()


def _source_frames(endpoint: str, shape: tuple[int, int, int], target_fps: float | None = None):
    from kvs_pool.sources.kvs_hls import KVSHLSFrameSource
    buf = np.empty(shape, np.uint8)
    with KVSHLSFrameSource("bench", STREAM, "us-east-1", endpoint_url=endpoint,
                           target_fps=target_fps) as source:
        yield from (frame for frame, _ in source.read_frames(into=lambda h, w, c: buf))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    count = 100 if args.quick else 300
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(key, value)
    ports, stop = CTX.Queue(), CTX.Event()
    child = CTX.Process(target=_serve, args=(width, height, ports, stop), daemon=True)
    child.start()
    try:
        endpoint = ports.get(timeout=120)
        shape = (height, width, 3)
        cv = _measure(_cv2_frames(endpoint, shape), count, 25)
        own = _measure(_source_frames(endpoint, shape), count, 25)
        key = _measure(_source_frames(endpoint, shape, target_fps=1.0), max(count // 30, 3), 2)
    finally:
        stop.set()
        child.join(10)
    print(f"{args.size}, {count} live frames at 25 fps, CPU ms per delivered frame:")
    print(f"  cv2.VideoCapture(session URL).read(buf)   {cv['cpu_ms_per_frame']:7.2f}  (baseline)")
    print(f"  KVSHLSFrameSource.read_frames(into=buf)  {own['cpu_ms_per_frame']:7.2f}  "
          f"({own['cpu_ms_per_frame'] / cv['cpu_ms_per_frame']:.2f}x)")
    print(f"  same, target_fps=1 (key frames only)     {key['cpu_ms_per_frame']:7.2f}  per kept frame")
    print(json.dumps({"bench": "kvs_hls_source", "size": args.size, "frames": count,
                      "cv2_cpu_ms": round(cv["cpu_ms_per_frame"], 3),
                      "source_cpu_ms": round(own["cpu_ms_per_frame"], 3),
                      "ratio": round(own["cpu_ms_per_frame"] / cv["cpu_ms_per_frame"], 3),
                      "keyframe_only_cpu_ms_per_kept_frame": round(key["cpu_ms_per_frame"], 3)}))


if __name__ == "__main__":
    main()
