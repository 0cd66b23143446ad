"""The ``yolo`` detector: a YOLO-family ONNX model run by onnxruntime on letterboxed frames.

Per frame: letterbox into the model input (``letterbox.Letterboxer``), one
``InferenceSession.run``, decode the v5 or v8 layout (``layouts.decode``) with the confidence
and class filters, per-class NMS, boxes mapped back to frame pixels. The CUDA provider is used
when onnxruntime offers it, else the CPU with ``threads`` intra-op threads.

Class names come from ``class_names`` (a file) when given, else from the model's metadata
(``names``: a JSON list, or the ``{0: 'person', ...}`` dict Ultralytics writes), else COCO's 80.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kvs_pool.errors import DetectorError
from kvs_pool.pipeline.detection import Detection, detections_from_arrays

if TYPE_CHECKING:
    import onnxruntime as ort
from kvs_pool.pipeline.layouts import LAYOUTS, decode, detect_layout, nms
from kvs_pool.pipeline.letterbox import Letterboxer
from kvs_pool.pipeline.models import COCO_NAMES, model_id, read_names, resolve_model

__all__ = ["YoloParams", "YoloDetector", "names_from_metadata"]

log = logging.getLogger(__name__)

_DEFAULT_INPUT = 640


@dataclass(frozen=True)
class YoloParams:
    """What the ``yolo`` detector needs (``config.YoloDetectorConfig``, mapped by
    ``workers.params``)."""

    model: str = "builtin://yolov3-tiny"     # see models.resolve_model
    input_size: int | None = None           # square side; None: the model's own (or 640/416)
    classes: tuple[str | int, ...] = ()      # keep only these class names or ids; empty: all
    confidence: float = 0.25
    nms_iou: float = 0.45
    threads: int = 2
    layout: str = "auto"
    class_names: str | None = None           # names file; default: model metadata, else COCO
    max_detections: int = 100
    cache_dir: str | None = None             # where converted Darknet models go


def names_from_metadata(meta: dict[str, str]) -> list[str]:
    """Class names from ONNX metadata ``names`` (JSON list or a Python dict literal); [] if none."""
    raw = meta.get("names")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return []
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value, key=int)]
    return [str(v) for v in value] if isinstance(value, list) else []


def _onnxruntime() -> Any:
    """onnxruntime, imported when a detector is built (the [detect] extra; the pool's other
    processes never load it)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise DetectorError("the yolo detector needs onnxruntime, which is not installed: "
                            "pip install 'kvs-pool[detect]'") from exc
    return onnxruntime


def _providers() -> list[str]:
    available = _onnxruntime().get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _session(path: Path, threads: int) -> ort.InferenceSession:
    ort = _onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=_providers())
    except Exception as exc:    # onnxruntime raises its own untyped errors
        raise DetectorError(f"model {path}: onnxruntime cannot load it: {exc}") from exc


def _input_hw(session: ort.InferenceSession, wanted: int | None) -> tuple[int, int]:
    shape = session.get_inputs()[0].shape
    h, w = (d if isinstance(d, int) else None for d in shape[2:4])
    if h is not None and w is not None:
        if wanted and (wanted, wanted) != (h, w):
            raise DetectorError(f"model input is fixed at {w}x{h}; "
                                f"input_size {wanted} cannot be used (convert it again)")
        return h, w
    side = wanted or _DEFAULT_INPUT
    return side, side


class YoloDetector:
    """Letterbox → onnxruntime → decode → NMS → frame-pixel ``Detection``s."""

    def __init__(self, params: YoloParams) -> None:
        if params.layout not in LAYOUTS:
            raise DetectorError(f"detector layout {params.layout!r}: expected one of {LAYOUTS}")
        size = (params.input_size, params.input_size) if params.input_size else None
        path = resolve_model(params.model, Path(params.cache_dir) if params.cache_dir else None, size)
        self.params = params
        self.name = model_id(params.model)
        self.session = _session(path, params.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = self._names(meta)
        self.layout = self._layout(meta)
        self.allowed = self._allowed()
        h, w = _input_hw(self.session, params.input_size)
        self.letterbox = Letterboxer(w, h)

    def _names(self, meta: dict[str, str]) -> list[str]:
        if self.params.class_names:
            return read_names(Path(self.params.class_names))
        return names_from_metadata(meta) or list(COCO_NAMES)

    def _layout(self, meta: dict[str, str]) -> str:
        if self.params.layout != "auto":
            return self.params.layout
        if meta.get("kvs_pool.layout") in ("v5", "v8"):
            return meta["kvs_pool.layout"]
        shape = tuple(d if isinstance(d, int) else -1 for d in self.session.get_outputs()[0].shape)
        if -1 in shape[1:]:
            return "auto"          # decided on the first output
        return detect_layout(shape, len(self.names) or None)

    def _allowed(self) -> np.ndarray | None:
        if not self.params.classes:
            return None
        ids = {c if isinstance(c, int) else self.names.index(c) if c in self.names else -1
               for c in self.params.classes}
        if -1 in ids or max(ids) >= len(self.names):
            unknown = [c for c in self.params.classes if c not in self.names and
                       not (isinstance(c, int) and 0 <= c < len(self.names))]
            known = ", ".join(self.names[:8]) + ("..." if len(self.names) > 8 else "")
            raise DetectorError(f"detector classes {unknown} are not in the model's names ({known})")
        return np.array(sorted(ids), np.int64)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """The raw model output for one input tensor (the bare model run)."""
        outputs: list[np.ndarray] = self.session.run([self.output_name], {self.input_name: tensor})
        return outputs[0]

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Objects in a BGR frame, boxes in its pixels, best score first."""
        tensor, geo = self.letterbox(frame)
        out = self.infer(tensor)
        if self.layout == "auto":
            self.layout = detect_layout(out.shape, len(self.names) or None)
        cands = nms(decode(out, self.layout, self.params.confidence, self.allowed),
                    self.params.nms_iou, self.params.max_detections)
        return detections_from_arrays(geo.to_frame(cands.boxes), cands.scores, cands.class_ids,
                                      self.names)

    def close(self) -> None:
        """Release the session (onnxruntime frees it with the object)."""
        self.session = None
