"""Convert a Darknet YOLOv3 / YOLOv3-tiny model (cfg + weights) to ONNX, with the heads decoded.

Why convert instead of loading the Darknet files with OpenCV: OpenCV 5 dropped
``readNetFromDarknet``, and onnxruntime runs the converted model about twice as fast as OpenCV
DNN here (``benchmarks/detect.py`` measures both on the same file). The converter needs only the
``onnx`` package and numpy; batch normalisation is folded into the convolutions.

The ``[yolo]`` heads are decoded inside the graph, so the model emits the YOLOv5 layout
``(1, N, 5 + C)``: ``cx, cy, w, h`` in input pixels, sigmoid objectness, sigmoid class scores.
One decoder (``layouts.decode``) then serves Darknet, YOLOv5 and (with ``v8``) YOLOv8 models.
Class names are stored in the model's metadata (``names``, a JSON list).

Weights file (Darknet, little-endian):

| offset | type | field |
| --- | --- | --- |
| 0 | int32 × 3 | major, minor, revision |
| 12 | int64 (int32 when version < 0.2) | images seen in training |
| then | float32 | per conv layer: biases, [scales, rolling mean, rolling var if BN], weights (f, c, k, k) |
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from kvs_pool.errors import DetectorError

__all__ = ["parse_cfg", "convert_darknet", "INPUT_NAME", "OUTPUT_NAME"]

log = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "output0"
_OPSET = 13


def parse_cfg(text: str) -> list[dict[str, str]]:
    """Sections of a Darknet cfg in order, each a dict with its ``type`` (``net``, ``convolutional``...)."""
    sections: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append({"type": line.strip("[]").strip()})
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1][key.strip()] = value.strip()
    if not sections or sections[0]["type"] not in ("net", "network"):
        raise DetectorError("Darknet cfg: the first section must be [net]")
    return sections


class _Weights:
    """Sequential reader of the float32 body of a Darknet weights file."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        major, minor, _ = np.frombuffer(raw[:12], np.int32)
        start = 20 if (major * 10 + minor) >= 2 else 16
        self.data = np.frombuffer(raw[start:], np.float32)
        self.pos = 0

    def take(self, count: int) -> np.ndarray:
        if self.pos + count > self.data.size:
            raise DetectorError("Darknet weights file is shorter than its cfg needs (wrong pair?)")
        out = self.data[self.pos:self.pos + count]
        self.pos += count
        return out


class _Graph:
    """Builds the ONNX graph layer by layer, tracking each output's name and (c, h, w)."""

    def __init__(self, weights: _Weights, c: int, h: int, w: int) -> None:
        self.wt = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.outs: list[tuple[str, tuple[int, int, int]]] = []
        self.cur = (INPUT_NAME, (c, h, w))
        self.input_hw = (h, w)
        self.heads: list[str] = []
        self.rows, self.row_len = 0, 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        """Add one ``op`` node; ``attrs`` are its ONNX attributes (ints, floats, lists: the
        values ``onnx.helper.make_node`` takes, typed ``Any`` there)."""
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, i: int, sec: dict[str, str]) -> None:
        src, (c, h, w) = self.cur
        f, k, s = int(sec["filters"]), int(sec.get("size", 1)), int(sec.get("stride", 1))
        p = k // 2 if int(sec.get("pad", 0)) else int(sec.get("padding", 0))
        bias = self.wt.take(f).copy()
        if int(sec.get("batch_normalize", 0)):
            gamma, mean, var = (self.wt.take(f) for _ in range(3))
            scale = gamma / (np.sqrt(var) + 1e-6)      # Darknet: (x - mean) / (sqrt(var) + 1e-6)
            bias = bias - mean * scale
        else:
            scale = np.ones(f, np.float32)
        weight = self.wt.take(f * c * k * k).reshape(f, c, k, k) * scale[:, None, None, None]
        out = self.node("Conv", [src, self.const(f"w{i}", weight.astype(np.float32)),
                                 self.const(f"b{i}", bias.astype(np.float32))], f"conv{i}",
                        kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
        act = sec.get("activation", "linear")
        if act == "leaky":
            out = self.node("LeakyRelu", [out], f"leaky{i}", alpha=0.1)
        elif act != "linear":
            raise DetectorError(f"Darknet cfg layer {i}: activation {act!r} is not supported")
        self.cur = (out, (f, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1))

    def maxpool(self, i: int, sec: dict[str, str]) -> None:
        src, (c, h, w) = self.cur
        k, s = int(sec.get("size", 2)), int(sec.get("stride", 2))
        pad = int(sec.get("padding", k - 1))           # Darknet pads size-1, mostly at the end
        begin, end = pad // 2, pad - pad // 2
        out = self.node("MaxPool", [src], f"pool{i}", kernel_shape=[k, k], strides=[s, s],
                        pads=[begin, begin, end, end])
        self.cur = (out, (c, (h + pad - k) // s + 1, (w + pad - k) // s + 1))

    def upsample(self, i: int, sec: dict[str, str]) -> None:
        src, (c, h, w) = self.cur
        s = int(sec.get("stride", 2))
        scales = self.const(f"scales{i}", np.array([1, 1, s, s], np.float32))
        out = self.node("Resize", [src, "", scales], f"up{i}", mode="nearest")
        self.cur = (out, (c, h * s, w * s))

    def route(self, i: int, sec: dict[str, str]) -> None:
        if "groups" in sec:
            raise DetectorError(f"Darknet cfg layer {i}: grouped [route] (YOLOv4) is not supported")
        picked = [self.outs[int(v) + i if int(v) < 0 else int(v)]
                  for v in sec["layers"].split(",")]
        if len(picked) == 1:
            self.cur = picked[0]
            return
        out = self.node("Concat", [name for name, _ in picked], f"route{i}", axis=1)
        _, (_, h, w) = picked[0]
        self.cur = (out, (sum(shape[0] for _, shape in picked), h, w))

    def shortcut(self, i: int, sec: dict[str, str]) -> None:
        src, shape = self.cur
        other = self.outs[int(sec["from"]) + i][0]
        self.cur = (self.node("Add", [src, other], f"add{i}"), shape)

    def yolo(self, i: int, sec: dict[str, str]) -> None:
        """Decode one head into (1, A*H*W, 5+C) rows: xy, wh in input pixels, sigmoid scores."""
        src, (c, h, w) = self.cur
        anchors = np.array([float(v) for v in sec["anchors"].split(",")], np.float32).reshape(-1, 2)
        anchors = anchors[[int(v) for v in sec["mask"].split(",")]]
        a, n = len(anchors), c // len(anchors)
        t = self.node("Reshape", [src, self.const(f"shape{i}", np.array([1, a, n, h * w]))], f"r{i}")
        t = self.node("Transpose", [t], f"t{i}", perm=[0, 1, 3, 2])        # (1, A, HW, n)
        parts = [self._slice(t, i, lo, hi) for lo, hi in ((0, 2), (2, 4), (4, n))]
        gy, gx = np.mgrid[0:h, 0:w]
        grid = np.stack([gx.ravel(), gy.ravel()], -1).reshape(1, 1, h * w, 2).astype(np.float32)
        stride = np.array([self.input_hw[1] / w, self.input_hw[0] / h], np.float32)
        xy = self.node("Add", [self.node("Sigmoid", [parts[0]], f"sxy{i}"),
                               self.const(f"grid{i}", grid)], f"gxy{i}")
        xy = self.node("Mul", [xy, self.const(f"stride{i}", stride)], f"xy{i}")
        wh = self.node("Mul", [self.node("Exp", [parts[1]], f"ewh{i}"),
                               self.const(f"anchors{i}", anchors.reshape(1, a, 1, 2))], f"wh{i}")
        rest = self.node("Sigmoid", [parts[2]], f"sc{i}")
        cat = self.node("Concat", [xy, wh, rest], f"cat{i}", axis=3)
        flat = self.const(f"flat{i}", np.array([1, a * h * w, n]))
        self.heads.append(self.node("Reshape", [cat, flat], f"head{i}"))
        self.rows, self.row_len = self.rows + a * h * w, n

    def _slice(self, src: str, i: int, lo: int, hi: int) -> str:
        args = [self.const(f"s{i}_{lo}_{k}", np.array([v])) for k, v in (("lo", lo), ("hi", hi), ("ax", 3))]
        return self.node("Slice", [src] + args, f"slice{i}_{lo}")


def _build(sections: list[dict[str, str]], weights: _Weights, size: tuple[int, int]) -> _Graph:
    net = sections[0]
    graph = _Graph(weights, int(net.get("channels", 3)), size[1], size[0])
    handlers = {"convolutional": graph.conv, "maxpool": graph.maxpool, "upsample": graph.upsample,
                "route": graph.route, "shortcut": graph.shortcut, "yolo": graph.yolo}
    for i, sec in enumerate(sections[1:]):
        handler = handlers.get(sec["type"])
        if handler is None:
            raise DetectorError(f"Darknet cfg layer {i}: [{sec['type']}] is not supported")
        handler(i, sec)
        graph.outs.append(graph.cur)
    if weights.pos != weights.data.size:
        log.warning("Darknet weights: %d values left unread", weights.data.size - weights.pos)
    if not graph.heads:
        raise DetectorError("Darknet cfg has no [yolo] layer")
    return graph


def convert_darknet(cfg: Path, weights: Path, out: Path, names: list[str],
                    input_size: tuple[int, int] | None = None) -> Path:
    """Write the ONNX model of ``cfg`` + ``weights`` to ``out``; ``input_size`` is (w, h)."""
    sections = parse_cfg(Path(cfg).read_text())
    net = sections[0]
    w, h = input_size or (int(net.get("width", 416)), int(net.get("height", 416)))
    if w % 32 or h % 32:
        raise DetectorError(f"Darknet input size {w}x{h}: both sides must be multiples of 32")
    graph = _build(sections, _Weights(Path(weights)), (w, h))
    c = int(net.get("channels", 3))
    final = graph.node("Concat", graph.heads, OUTPUT_NAME, axis=1)
    model = helper.make_model(
        helper.make_graph(graph.nodes, Path(cfg).stem,
                          [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, c, h, w])],
                          [helper.make_tensor_value_info(final, TensorProto.FLOAT,
                                                         [1, graph.rows, graph.row_len])],
                          graph.inits),
        opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="kvs-pool darknet")
    helper.set_model_props(model, {"names": json.dumps(names), "kvs_pool.layout": "v5",
                                   "kvs_pool.source": f"darknet:{Path(cfg).name}"})
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")   # concurrent converters
    onnx.save(model, str(tmp))
    tmp.replace(out)
    return out
