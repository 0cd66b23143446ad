"""Detection pipeline: pure steps, testable without processes.

motion gate (``motion``) → detector (``yolo`` or ``motion``) → ROI filter (``roi``) → temporal
confirmation (``confirm``) → events (``events``) handed to a sink. ``runner.Pipeline`` chains
them for the cameras of one pipeline; ``darknet``/``models`` turn the built-in YOLOv3-tiny into
an ONNX model at first use. See ``docs/detection.md``.
"""

from kvs_pool.pipeline.confirm import Confirmer, ConfirmParams, Transition
from kvs_pool.pipeline.detection import Detection, Detector
from kvs_pool.pipeline.events import (
    EventContext,
    EventSink,
    LogSink,
    make_event,
    validate_event,
)
from kvs_pool.pipeline.letterbox import Letterboxer, LetterboxGeometry, letterbox
from kvs_pool.pipeline.models import resolve_model
from kvs_pool.pipeline.motion import GateParams, MotionDetector, MotionGate, MotionParams
from kvs_pool.pipeline.roi import RoiFilter, Zone
from kvs_pool.pipeline.runner import CameraSetup, FrameResult, Pipeline
from kvs_pool.pipeline.stats import PipelineStats
from kvs_pool.pipeline.yolo import YoloDetector, YoloParams

__all__ = [
    "Detection", "Detector", "YoloDetector", "YoloParams", "MotionDetector", "MotionParams",
    "MotionGate", "GateParams", "Zone", "RoiFilter", "ConfirmParams", "Confirmer", "Transition",
    "EventContext", "EventSink", "LogSink", "make_event",
    "validate_event", "Letterboxer", "LetterboxGeometry", "letterbox", "resolve_model",
    "CameraSetup", "FrameResult", "Pipeline", "PipelineStats",
]
