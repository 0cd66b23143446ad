"""Darknet → ONNX conversion, checked against a numpy forward pass written from Darknet's rules.

The reference below follows Darknet's C code, not the converter: batch norm unfused
(``(x - mean) / (sqrt(var) + 1e-6) * scale + bias``), max-pool padded ``size - 1`` at the end,
nearest upsample, route/shortcut by layer index, and the YOLO head decode
(``(grid + sigmoid(t)) * stride``, ``exp(t) * anchor``, sigmoid scores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from kvs_pool.errors import DetectorError
from kvs_pool.pipeline.darknet import convert_darknet, parse_cfg
from kvs_pool.pipeline.models import builtin_darknet, read_names, resolve_model

SMALL_CFG = """
[net]
width=64
height=64
channels=3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky
[maxpool]
size=2
stride=2
[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky
[maxpool]
size=2
stride=1
[convolutional]
filters=16
size=1
stride=1
pad=1
activation=leaky
[shortcut]
from=-2
activation=linear
[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear
[yolo]
mask = 1,2,3
anchors = 4,5, 8,9, 12,20, 30,30
classes=2
num=4
[route]
layers = -3
[upsample]
stride=2
[route]
layers = -1, 1
[convolutional]
size=1
stride=1
pad=1
filters=7
activation=linear
[yolo]
mask = 0
anchors = 4,5, 8,9, 12,20, 30,30
classes=2
num=4
"""


class Reference:
    """Darknet's forward pass in numpy, reading the weights file on its own."""

    def __init__(self, cfg: str, weights: Path) -> None:
        self.sections = parse_cfg(cfg)[1:]
        raw = weights.read_bytes()
        self.data, self.pos = np.frombuffer(raw[20:], np.float32), 0

    def take(self, n: int) -> np.ndarray:
        self.pos += n
        return self.data[self.pos - n:self.pos].astype(np.float64)

    def conv(self, x: np.ndarray, sec: dict[str, str]) -> np.ndarray:
        f, k, s = int(sec["filters"]), int(sec["size"]), int(sec["stride"])
        bias = self.take(f)
        bn = [self.take(f) for _ in range(3)] if int(sec.get("batch_normalize", 0)) else None
        w = self.take(f * x.shape[0] * k * k).reshape(f, x.shape[0], k, k)
        p = k // 2
        xp = np.pad(x, ((0, 0), (p, p), (p, p)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]
        y = np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4]))
        if bn is not None:
            scale, mean, var = bn
            y = (y - mean[:, None, None]) / (np.sqrt(var)[:, None, None] + 1e-6) * scale[:, None, None]
        y = y + bias[:, None, None]
        return np.where(y > 0, y, 0.1 * y) if sec.get("activation") == "leaky" else y

    @staticmethod
    def maxpool(x: np.ndarray, sec: dict[str, str]) -> np.ndarray:
        k, s = int(sec["size"]), int(sec["stride"])
        xp = np.pad(x, ((0, 0), (0, k - 1), (0, k - 1)), constant_values=-np.inf)
        win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]
        oh = (x.shape[1] + k - 1 - k) // s + 1
        return win.max(axis=(3, 4))[:, :oh, :oh]

    @staticmethod
    def yolo(x: np.ndarray, sec: dict[str, str], size: int) -> np.ndarray:
        anchors = np.array(sec["anchors"].split(","), float).reshape(-1, 2)
        anchors = anchors[[int(m) for m in sec["mask"].split(",")]]
        a, h, w = len(anchors), x.shape[1], x.shape[2]
        t = x.reshape(a, -1, h, w)
        sig = 1 / (1 + np.exp(-t))
        gy, gx = np.mgrid[0:h, 0:w]
        rows = np.concatenate([((gx + sig[:, 0]) * size / w)[:, None], ((gy + sig[:, 1]) * size / h)[:, None],
                               np.exp(t[:, 2:3]) * anchors[:, 0, None, None, None],
                               np.exp(t[:, 3:4]) * anchors[:, 1, None, None, None], sig[:, 4:]], axis=1)
        return rows.transpose(0, 2, 3, 1).reshape(-1, t.shape[1])

    def forward(self, image: np.ndarray, size: int) -> np.ndarray:
        outs, heads, x = [], [], image.astype(np.float64)
        for i, sec in enumerate(self.sections):
            kind = sec["type"]
            if kind == "convolutional":
                x = self.conv(x, sec)
            elif kind == "maxpool":
                x = self.maxpool(x, sec)
            elif kind == "upsample":
                x = x.repeat(2, axis=1).repeat(2, axis=2)
            elif kind == "route":
                layers = [int(v) for v in sec["layers"].split(",")]
                x = np.concatenate([outs[v + i if v < 0 else v] for v in layers])
            elif kind == "shortcut":
                x = x + outs[int(sec["from"]) + i]
            elif kind == "yolo":
                heads.append(self.yolo(x, sec, size))
            outs.append(x)
        return np.concatenate(heads)[None]


def write_weights(path: Path, count: int, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    body = np.abs(rng.normal(0, 0.15, count)).astype(np.float32) + 0.02   # variances stay > 0
    header = np.array([0, 2, 0], np.int32).tobytes() + np.int64(0).tobytes()
    path.write_bytes(header + body.tobytes())
    return path


def run_onnx(path: Path, image: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": image[None].astype(np.float32)})[0]


def test_small_network_matches_the_numpy_reference(tmp_path: Path) -> None:
    cfg = tmp_path / "small.cfg"
    cfg.write_text(SMALL_CFG)
    weights = write_weights(tmp_path / "small.weights", 20_000)
    out = convert_darknet(cfg, weights, tmp_path / "small.onnx", ["a", "b"])
    image = np.random.default_rng(1).random((3, 64, 64))
    got = run_onnx(out, image)
    want = Reference(SMALL_CFG, weights).forward(image, 64)
    assert np.isfinite(want).all() and want[..., 2:4].std() > 0.1
    # head 1: 3 anchors × 16×16 (stride 4); head 2: 1 anchor × 32×32 (stride 2)
    assert got.shape == want.shape == (1, 3 * 256 + 1024, 7)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_real_yolov3_tiny_matches_the_numpy_reference(tmp_path: Path) -> None:
    files = builtin_darknet()
    out = convert_darknet(files.cfg, files.weights, tmp_path / "t.onnx", read_names(files.names),
                          (160, 160))
    image = np.random.default_rng(2).random((3, 160, 160))
    got = run_onnx(out, image)
    want = Reference(files.cfg.read_text(), files.weights).forward(image, 160)
    assert got.shape == (1, 3 * (25 + 100), 85)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_conversion_is_cached_by_content(model_cache: Path) -> None:
    first = resolve_model("builtin://yolov3-tiny", model_cache, (320, 320))
    mtime = first.stat().st_mtime_ns
    assert resolve_model("yolov3-tiny", model_cache, (320, 320)) == first
    assert first.stat().st_mtime_ns == mtime
    assert resolve_model("yolov3-tiny", model_cache, (416, 416)) != first


def test_unsupported_or_mismatched_files_are_explained(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(SMALL_CFG.replace("[upsample]", "[reorg]"))
    weights = write_weights(tmp_path / "bad.weights", 20_000)
    with pytest.raises(DetectorError, match=r"\[reorg\] is not supported"):
        convert_darknet(cfg, weights, tmp_path / "x.onnx", [])
    cfg.write_text(SMALL_CFG)
    with pytest.raises(DetectorError, match="shorter than its cfg"):
        convert_darknet(cfg, write_weights(tmp_path / "short.weights", 100), tmp_path / "x.onnx", [])
    with pytest.raises(DetectorError, match="multiples of 32"):
        convert_darknet(cfg, weights, tmp_path / "x.onnx", [], (100, 100))
    with pytest.raises(DetectorError, match="unknown built-in"):
        resolve_model("builtin://yolov9000", tmp_path)
    with pytest.raises(DetectorError, match=r"\[net\]"):
        parse_cfg("[convolutional]\nfilters=1\n")
