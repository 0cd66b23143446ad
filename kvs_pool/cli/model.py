"""`kvs-pool model convert|detect`: prepare a detection model, try it on an image.

``convert`` turns the built-in YOLOv3-tiny (or any Darknet cfg + weights) into ONNX in the model
cache, or at ``--out``, and prints the path; ``detect`` runs a detector config's model on an
image file and prints one JSON line per detection, so a model and its thresholds can be checked
before a pool uses them.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `model` subcommand and its two actions."""
    parser = subparsers.add_parser("model", help="convert a detection model, or try one on an image")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    convert = actions.add_parser("convert", help="Darknet (or the built-in yolov3-tiny) -> ONNX")
    convert.add_argument("model", nargs="?", default="yolov3-tiny",
                         help="yolov3-tiny (built-in) or a Darknet .cfg with its .weights beside it")
    convert.add_argument("--input-size", type=int, default=416, help="square input side, multiple of 32")
    convert.add_argument("--out", type=Path, help="write the ONNX file here (default: the model cache)")
    convert.add_argument("--cache-dir", type=Path, help="model cache (default ~/.cache/kvs-pool/models)")
    convert.set_defaults(handler=_convert)
    detect = actions.add_parser("detect", help="run a model on an image, print the detections")
    detect.add_argument("image", type=Path, help="an image file (jpg, png...)")
    detect.add_argument("--model", default="yolov3-tiny", help="built-in name, .onnx or Darknet .cfg")
    detect.add_argument("--input-size", type=int, default=None)
    detect.add_argument("--confidence", type=float, default=0.25)
    detect.add_argument("--classes", nargs="*", default=(), help="class names to keep")
    detect.add_argument("--cache-dir", type=Path)
    detect.set_defaults(handler=_detect)


def _convert(args: argparse.Namespace) -> int:
    from kvs_pool.pipeline.models import resolve_model
    size = (args.input_size, args.input_size)
    path = resolve_model(args.model, args.cache_dir, size)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.out)
        path = args.out
    print(path)
    return 0


def _detect(args: argparse.Namespace) -> int:
    import cv2

    from kvs_pool.errors import DetectorError
    from kvs_pool.pipeline.yolo import YoloDetector, YoloParams
    image = cv2.imread(str(args.image))
    if image is None:
        raise DetectorError(f"cannot read image {args.image}")
    detector = YoloDetector(YoloParams(
        model=args.model, input_size=args.input_size, confidence=args.confidence,
        classes=tuple(args.classes), cache_dir=str(args.cache_dir) if args.cache_dir else None))
    for det in detector.detect(image):
        print(json.dumps({"class": det.label, "score": round(det.score, 3),
                          "box": [round(v, 1) for v in det.box]}))
    return 0
