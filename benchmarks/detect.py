"""Benchmark of the detection pipeline; each figure next to a baseline measured in this process.

1. Pipeline time per 720p frame (letterbox + inference + decode + NMS + ROI + confirmation) vs the
   bare ``InferenceSession.run`` on the same, already letterboxed input: the overhead ratio.
   The two are timed interleaved, frame by frame, so machine noise hits both alike; the
   figure is the median of the per-frame ratios.
2. Share of frames the motion gate skips on a mostly static scene (sensor noise, an object
   crossing in ~10 % of the frames) vs the share of frames that really are static.
3. Frames per second the box sustains through the gated pipeline on that scene, hence how many
   cameras it serves at 5 fps detection, vs the same without the gate.
4. onnxruntime vs OpenCV DNN on the converted YOLOv3-tiny (same file): time and agreement.

The model is the built-in YOLOv3-tiny converted at first use into a temporary cache (timed).
``--quick`` runs in well under a minute; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kvs_pool.pipeline import CameraSetup, ConfirmParams, GateParams, MotionGate, Pipeline, Zone
from kvs_pool.pipeline.models import resolve_model
from kvs_pool.pipeline.yolo import YoloDetector, YoloParams

W, H = 1280, 720
PHOTO = Path(os.environ.get("KVS_POOL_TEST_PHOTOS") or
             Path(__file__).resolve().parents[1] / ".cache/darknet/usr/share/darknet/data") / "dog.jpg"


class NullSink:
    """Discards events (the benchmark measures the pipeline, not publishing)."""

    def emit(self, event: dict[str, Any], snapshot: bytes | None) -> None:
        pass


def p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def test_frame() -> np.ndarray:
    """A 720p frame: dog.jpg letterboxed into it when present, else a textured synthetic one."""
    frame = np.full((H, W, 3), 100, np.uint8)
    photo = cv2.imread(str(PHOTO))
    if photo is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    scaled = cv2.resize(photo, (H * photo.shape[1] // photo.shape[0], H))
    x = (W - scaled.shape[1]) // 2
    frame[:, x:x + scaled.shape[1]] = scaled
    return frame


def bench_overhead(det: YoloDetector, frame: np.ndarray, n: int) -> dict[str, float]:
    zone = Zone("lower", ((0, 0.3), (1, 0.3), (1, 1), (0, 1)))
    pipe = Pipeline("bench", det, NullSink(), [CameraSetup("cam", None, (zone,), ConfirmParams())])
    tensor, _ = det.letterbox(frame)
    bare, full = [], []
    for i in range(n + 3):
        t0 = time.perf_counter()
        det.infer(tensor)
        t1 = time.perf_counter()
        pipe.process("cam", frame, float(i))
        t2 = time.perf_counter()
        if i >= 3:                                   # warm-up
            bare.append(t1 - t0)
            full.append(t2 - t1)
    # Each pair runs back to back under the same load: the median of per-pair ratios is far
    # steadier on a shared machine than a ratio of two medians.
    ratio = statistics.median(f / b for f, b in zip(full, bare))
    return {"overhead_vs_bare_model": round(ratio, 3), "ms_per_frame_p50": p50_ms(full),
            "bare_model_ms_p50": p50_ms(bare),
            "overhead_ms_p50": p50_ms([f - b for f, b in zip(full, bare)])}


def static_scene(n: int, moving_share: float = 0.1) -> tuple[list[np.ndarray], int]:
    """Frames of a static scene with sensor noise; an object crosses in ``moving_share`` of them."""
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(40, 200, (H, W, 3), dtype=np.uint8), (9, 9), 0)
    moving = range(n // 2, n // 2 + int(n * moving_share))
    frames = []
    for i in range(n):
        frame = cv2.add(base, rng.integers(0, 6, (H, W, 3), dtype=np.uint8))   # sensor noise
        if i in moving:
            x = 100 + (i - moving.start) * (W - 300) // max(len(moving), 1)
            cv2.rectangle(frame, (x, 250), (x + 120, 600), (30, 30, 220), -1)
        frames.append(frame)
    return frames, len(moving)


def bench_motion(frames: list[np.ndarray], moving: int) -> dict[str, float]:
    gate = MotionGate(GateParams(refresh_s=10.0))
    times, skipped = [], 0
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        decision = gate.check(frame, i / 5.0)                  # 5 fps frame clock
        times.append(time.perf_counter() - t0)
        skipped += not decision.run
    return {"motion_skip_share": round(skipped / len(frames), 3),
            "static_share": round(1 - moving / len(frames), 3), "gate_ms_p50": p50_ms(times)}


def bench_capacity(det: YoloDetector, frames: list[np.ndarray]) -> dict[str, float]:
    out = {}
    for label, gate in (("gated", GateParams(refresh_s=10.0)), ("ungated", None)):
        pipe = Pipeline("bench", det, NullSink(), [CameraSetup("cam", gate)])
        sample = frames if gate else frames[:max(len(frames) // 5, 10)]
        t0 = time.perf_counter()
        for i, frame in enumerate(sample):
            pipe.process("cam", frame, i / 5.0)
        out[f"sustained_fps_{label}"] = round(len(sample) / (time.perf_counter() - t0), 1)
    out["cameras_at_5fps"] = int(out["sustained_fps_gated"] // 5)
    out["cameras_at_5fps_ungated"] = int(out["sustained_fps_ungated"] // 5)
    return out


def bench_backends(det: YoloDetector, model: Path, frame: np.ndarray, n: int) -> dict[str, float]:
    tensor, _ = det.letterbox(frame)
    net = cv2.dnn.readNetFromONNX(str(model))
    ort_t, cv_t = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        ref = det.infer(tensor)
        t1 = time.perf_counter()
        net.setInput(tensor)
        got = net.forward()
        cv_t.append(time.perf_counter() - t1)
        ort_t.append(t1 - t0)
    rel = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-9)
    return {"onnxruntime_ms_p50": p50_ms(ort_t), "opencv_dnn_ms_p50": p50_ms(cv_t),
            "opencv_vs_onnxruntime": round(statistics.median(cv_t) / statistics.median(ort_t), 2),
            "opencv_vs_onnxruntime_max_rel_diff": float(f"{rel:.2e}")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (under a minute)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    args = parser.parse_args(argv)
    n, scene_n, cv_n = (40, 200, 8) if args.quick else (200, 1000, 20)
    results: dict[str, Any] = {"quick": args.quick, "threads": args.threads}
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        model = resolve_model("yolov3-tiny", Path(cache), (416, 416))
        results["convert_s"] = round(time.perf_counter() - t0, 2)
        det = YoloDetector(YoloParams(input_size=416, threads=args.threads, cache_dir=cache))
        frame = test_frame()
        results.update(bench_overhead(det, frame, n))
        print(f"pipeline {results['ms_per_frame_p50']} ms/frame vs bare model "
              f"{results['bare_model_ms_p50']} ms: x{results['overhead_vs_bare_model']} "
              f"(+{results['overhead_ms_p50']} ms)")
        frames, moving = static_scene(scene_n)
        results.update(bench_motion(frames, moving))
        print(f"motion gate skipped {results['motion_skip_share']:.1%} of frames; static frames: "
              f"{results['static_share']:.1%}; gate {results['gate_ms_p50']} ms/frame")
        results.update(bench_capacity(det, frames))
        print(f"sustained {results['sustained_fps_gated']} frames/s gated = "
              f"{results['cameras_at_5fps']} cameras at 5 fps; ungated "
              f"{results['sustained_fps_ungated']} frames/s = {results['cameras_at_5fps_ungated']}")
        results.update(bench_backends(det, model, frame, cv_n))
        print(f"OpenCV DNN {results['opencv_dnn_ms_p50']} ms vs onnxruntime "
              f"{results['onnxruntime_ms_p50']} ms (x{results['opencv_vs_onnxruntime']}), "
              f"max relative difference {results['opencv_vs_onnxruntime_max_rel_diff']}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
