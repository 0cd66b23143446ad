"""One pipeline over its cameras: motion gate → detector → ROI → confirmation → events → sink.

``Pipeline.process(camera_id, frame, frame_ts)`` runs one frame through the steps of that camera
and returns what happened (``FrameResult``). The detector (and its model) is shared by all the
cameras of the pipeline; gate, ROI filter and confirmation state are per camera. Counters and
the inference latency histogram live in ``stats`` (``PipelineStats``). Start events carry
the images made by ``render`` (a ``Renderer``; default None: no image is encoded). Drawing
lives downstream in ``kvs_pool.publish.snapshot``; the inference worker builds the renderer.

A frame the gate skips still reaches confirmation as a *hold* (nothing moved: the last verdict
stands), so presences end on time in a scene that went still.

``confirm_snapshot()`` / ``confirm_restore(state, now_wall, classes)`` carry the cameras' open
presences across a worker restart (the worker stores them; this package does no file I/O);
``confirm_revision()`` changes whenever a presence opens or closes, so the worker saves only then.

Events of one frame go to the sink together (``EventSink.emit_all``) *before* confirmation
keeps its new state: when the sink refuses them (a full outbox, ``PublishError``), the camera's
confirmation state is put back as it was before the frame, so no presence is open whose start
was never stored; the frame counts as ``refused`` and a later frame tries again.

Frames arrive as zero-copy views of a ring slot that the decoder may overwrite. ``process``
takes an ``intact`` callback (``Frame.is_intact``), asked after detection: a frame overwritten
while it was being read gives results that are dropped (counted as ``frames_torn``), never
confirmed.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kvs_pool.errors import PublishError
from kvs_pool.pipeline.confirm import Confirmer, ConfirmParams, Transition
from kvs_pool.pipeline.detection import Detection, Detector
from kvs_pool.pipeline.events import Emission, EventContext, EventSink, make_event
from kvs_pool.pipeline.motion import GateParams, MotionGate
from kvs_pool.pipeline.roi import RoiFilter, Zone
from kvs_pool.pipeline.stats import PipelineStats

__all__ = ["CameraSetup", "FrameResult", "Pipeline", "Renderer"]

# Images of a start event for its sink: (snapshot JPEG, crop JPEG), either may be None.
Renderer = Callable[[np.ndarray, dict[str, Any]], tuple[bytes | None, bytes | None]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSetup:
    """The per-camera steps of a pipeline."""

    camera_id: str
    gate: GateParams | None = field(default_factory=GateParams)    # None: no gate
    zones: tuple[Zone, ...] = ()
    confirm: ConfirmParams = field(default_factory=ConfirmParams)


@dataclass
class FrameResult:
    """What one frame did: whether the detector ran (and why), detections kept, events."""

    ran: bool
    reason: str
    detections: list[Detection] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    inference_s: float = 0.0


@dataclass
class _Camera:
    ctx: EventContext
    gate: MotionGate | None
    roi: RoiFilter
    confirmer: Confirmer


class Pipeline:
    """Runs frames of its cameras through the steps and hands events to ``sink``."""

    def __init__(self, name: str, detector: Detector, sink: EventSink,
                 cameras: list[CameraSetup], render: Renderer | None = None) -> None:
        self.name, self.detector, self.sink, self.render = name, detector, sink, render
        self.stats = PipelineStats()
        self.cameras: dict[str, _Camera] = {}
        for setup in cameras:
            self.cameras[setup.camera_id] = _Camera(
                EventContext(setup.camera_id, name, detector.name),
                MotionGate(setup.gate) if setup.gate and setup.gate.enabled else None,
                RoiFilter(setup.zones), Confirmer(setup.confirm))
            self.stats.camera(setup.camera_id)

    def process(self, camera_id: str, frame: np.ndarray, frame_ts: float,
                intact: Callable[[], bool] | None = None) -> FrameResult:
        """Run one frame of ``camera_id`` captured at ``frame_ts`` (Unix s) through the steps."""
        cam, counters = self.cameras[camera_id], self.stats.camera(camera_id)
        counters.last_frame_ts = frame_ts
        if cam.gate is not None:
            decision = cam.gate.check(frame, frame_ts)
            if not decision.run:
                counters.frames_skipped_motion += 1
                events = self._advance(cam, lambda c: c.hold(frame_ts), frame, frame_ts, False)
                return FrameResult(False, decision.reason if events is not None else "refused",
                                   events=events or [])
            reason = decision.reason
        else:
            reason = "ungated"
        started = time.perf_counter()
        found = self.detector.detect(frame)
        elapsed = time.perf_counter() - started
        self.stats.inference.observe(elapsed)
        if intact is not None and not intact():
            counters.frames_torn += 1
            return FrameResult(False, "torn", inference_s=elapsed)
        counters.frames_processed += 1
        kept = cam.roi.apply(found, frame.shape[1], frame.shape[0])
        counters.detections += len(kept)
        events = self._advance(cam, lambda c: c.update(kept, frame_ts), frame, frame_ts,
                               bool(kept))
        counters.presences_silenced = cam.confirmer.suppressed
        if events is None:
            return FrameResult(True, "refused", kept, [], elapsed)
        return FrameResult(True, reason, kept, events, elapsed)

    def _advance(self, cam: _Camera, step: Callable[[Confirmer], list[Transition]],
                 frame: np.ndarray, frame_ts: float, seen: bool) -> list[dict[str, Any]] | None:
        """Run one confirmation ``step`` and hand its events to the sink; when the sink refuses
        them, put the confirmation state back and return None.

        The state is copied only when the step can change it: with nothing followed and nothing
        ``seen`` in the frame it cannot (the common case of a quiet scene, where a copy would
        cost ~100x the step itself)."""
        before = copy.deepcopy(cam.confirmer) if seen or cam.confirmer.tracks else None
        transitions = step(cam.confirmer)
        if not transitions:
            return []
        emissions = [self._emission(cam, tr, frame, frame_ts) for tr in transitions]
        try:
            self.sink.emit_all(emissions)
        except PublishError as exc:
            if before is not None:   # (None: the step could not have changed anything)
                cam.confirmer = before
            log.debug("%d event(s) of %s not stored, confirmation kept as before the frame: "
                        "%s", len(emissions), cam.ctx.camera_id, exc,
                        extra={"camera_id": cam.ctx.camera_id})
            return None
        for tr in transitions:
            self._count(cam, tr)
        return [event for event, _, _ in emissions]

    def _emission(self, cam: _Camera, tr: Transition, frame: np.ndarray,
                  frame_ts: float) -> Emission:
        """The event of ``tr`` with its images (a start's snapshot and crop, when rendered)."""
        event = make_event(cam.ctx, tr, frame_ts, (frame.shape[1], frame.shape[0]))
        snapshot = crop = None
        if self.render is not None and tr.kind == "start":
            snapshot, crop = self.render(frame, event)
        return event, snapshot, crop

    def _count(self, cam: _Camera, tr: Transition) -> None:
        counters = self.stats.camera(cam.ctx.camera_id)
        if tr.kind == "start":
            counters.events_start += 1
        else:
            counters.events_end += 1
        log.info("%s %s on %s (score %.2f, roi %s)", tr.kind, tr.label, cam.ctx.camera_id,
                 tr.detection.score, tr.roi, extra={"camera_id": cam.ctx.camera_id})

    def confirm_revision(self) -> int:
        """Changes whenever a presence of any camera opens or closes."""
        return sum(cam.confirmer.revision for cam in self.cameras.values())

    def confirm_snapshot(self) -> dict[str, Any]:
        """The open presences of every camera, JSON-able (``Confirmer.snapshot`` per camera)."""
        return {"pipeline": self.name,
                "cameras": {cid: cam.confirmer.snapshot() for cid, cam in self.cameras.items()}}

    def confirm_restore(self, state: dict[str, Any], now_wall: float,
                        classes: frozenset[str] | None = None) -> int:
        """Reopen the presences of a ``confirm_snapshot()``; those of cameras, classes (None:
        any) or include zones this pipeline no longer has are dropped. Returns how many."""
        cameras = state.get("cameras") if isinstance(state, dict) else None
        if not isinstance(cameras, dict) or state.get("pipeline") != self.name:
            return 0
        restored = 0
        for cid, cam_state in cameras.items():
            cam = self.cameras.get(cid)
            if cam is None:
                continue
            zones = {z.name for z in cam.roi.zones if z.mode == "include"}

            def keep(label: str, roi: str | None, zones: set[str] = zones) -> bool:
                return (classes is None or label in classes) and (roi is None or roi in zones)
            restored += cam.confirmer.restore(cam_state, now_wall, keep)
        return restored

    def close(self) -> None:
        """Release the detector."""
        self.detector.close()
