"""The inference worker: one pipeline's cameras → newest frame → detection pipeline → events.

Entry point ``kvs_pool.workers.inference:run_inference(payload, stop)``, ``payload`` being
``(PoolConfig, pipeline_name)`` (see ``pool.specs.inference_spec``); the worker is named
``inference-<pipeline>``. It attaches to each camera of the pipeline with ``kvs_pool.client``
(retrying cameras whose ring is not there yet), and in turn takes each camera's **newest** frame
if it has not seen it (so it never builds a backlog; frames it never looked at are counted as
``frames_missed``), at most ``max_fps`` per camera when the pipeline sets it. Frames are read as
zero-copy views (sources pace frames at the stream's own rate, so a view is not overwritten
within milliseconds of being taken); a frame overwritten while being read is dropped
(``frames_torn``).

Config sections become the steps' parameters in ``workers.params`` (explicit,
field by field). Start events carry the images the S3 publishers ask for (``build_renderer``; none without
one). Events go to the worker's durable outbox (``<outbox.path stem>.<worker>.sqlite3``, see
``kvs_pool.publish``) drained by the publish loop in a thread of this process. About once a
second the worker rewrites its shared-memory telemetry page (``kvs_pool.telemetry_page``:
``pipeline.stats`` numbers plus outbox counters): the parent's metrics read it, and its
CLOCK_MONOTONIC stamp is the worker's heartbeat (immune to wall-clock steps). At exit the page
is unlinked and the last numbers are left in ``<state_dir>/stats/<worker>.json``.
Exit codes: ``kvs_pool.workers``.

The confirmation's open presences survive a restart (crash, stall, reload): they are saved to
``<state_dir>/confirm/<worker>.json`` (atomically) whenever a presence opens or closes, at most
once a second while one is followed (its last-seen time advances) and at exit, and restored at
start (``Pipeline.confirm_restore``), so one presence stays one start and one end.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kvs_pool import client
from kvs_pool.config import MotionDetectorConfig, PipelineConfig, PoolConfig
from kvs_pool.errors import ConfigError, DetectorError, KvsPoolError, RingError
from kvs_pool.pipeline import Detector, LogSink, MotionDetector, Pipeline, YoloDetector
from kvs_pool.pipeline.events import EventSink
from kvs_pool.pipeline.runner import Renderer
from kvs_pool.pipeline.stats import write_json_atomic
from kvs_pool.telemetry_page import TelemetryPage
from kvs_pool.workers import EXIT_CONFIG, EXIT_OK, EXIT_ORPHANED
from kvs_pool.workers.params import (
    camera_setups,
    motion_params,
    publishing_params,
    yolo_params,
)

__all__ = ["run_inference", "build_detector", "build_renderer", "camera_setups", "worker_name",
           "detected_classes", "load_confirm_state"]

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 1.0
_ATTACH_RETRY_S = 1.0
_IDLE_WAIT_S = 0.1


def worker_name(pipeline: str) -> str:
    """The supervisor's name for a pipeline's worker (also its telemetry page's and stats
    file's)."""
    return f"inference-{pipeline}"


def build_detector(pipe: PipelineConfig, cache_dir: Path) -> Detector:
    """The pipeline's detector from its config (``yolo`` or ``motion``)."""
    det = pipe.detector
    if isinstance(det, MotionDetectorConfig):
        return MotionDetector(motion_params(det))
    return YoloDetector(yolo_params(det, cache_dir))


def detected_classes(detector: Detector) -> frozenset[str] | None:
    """The class names ``detector`` can report (None: any of its model's)."""
    if isinstance(detector, MotionDetector):
        return frozenset({detector.params.label})
    allowed, names = getattr(detector, "allowed", None), getattr(detector, "names", None)
    if allowed is None or names is None:
        return None
    return frozenset(names[int(i)] for i in allowed)


def load_confirm_state(path: Path) -> dict[str, Any]:
    """A saved ``Pipeline.confirm_snapshot()`` ({} when there is none or it is unreadable)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable confirmation state %s: %s", path, exc)
        return {}
    return doc if isinstance(doc, dict) else {}


def build_renderer(pipe: PipelineConfig) -> Renderer | None:
    """Start-event images as the S3 publishers want them (``draw_boxes``, ``crop``); None when
    no publisher uses images, so none is encoded or stored."""
    s3 = [p for p in pipe.publishers if p.type == "s3"]
    if not s3:
        return None
    from kvs_pool.publish import render_crop, render_snapshot
    draw, crop = any(p.draw_boxes for p in s3), any(p.crop for p in s3)
    quality = 85

    def render(frame: np.ndarray, event: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
        if draw:
            snapshot = render_snapshot(frame, event, quality)
        else:
            snapshot = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        return snapshot, render_crop(frame, event) if crop else None
    return render


@dataclass
class _Feed:
    """One camera of the pipeline, attached or waiting to be."""

    camera_id: str
    cam: client.Camera | None = None
    last_seq: int = 0
    last_done: float = float("-inf")
    retry_at: float = 0.0


class _Publishing:
    """The pipeline's sink: the worker's outbox drained by the publish loop (all publishers,
    ``log`` included); with no publisher configured, events are only logged."""

    def __init__(self, config: PoolConfig, pipe: PipelineConfig, worker: str) -> None:
        from kvs_pool.publish import open_publishing
        self.outbox = self.loop = None
        if not pipe.publishers:
            log.warning("pipeline %s has no publishers: events are only logged", pipe.name)
            self.sink: EventSink = LogSink()
            return
        self.outbox, self.loop = open_publishing(
            publishing_params(config, pipe.publishers, worker))
        self.loop.start()
        self.sink = self.outbox

    def stats(self) -> dict[str, Any]:
        return self.outbox.snapshot_stats() if self.outbox else {}

    def close(self, flush_s: float) -> None:
        if self.loop is not None:
            self.loop.stop(flush_timeout_s=flush_s)
        if self.outbox is not None:
            self.outbox.close()


class _Worker:
    """The loop of one inference worker."""

    def __init__(self, config: PoolConfig, pipe: PipelineConfig, stop: threading.Event) -> None:
        self.config, self.stop, self.parent = config, stop, os.getppid()
        self.name = worker_name(pipe.name)
        assert config.pool.state_dir is not None, "load_config sets it"
        state = Path(config.pool.state_dir)
        self.stats_path = state / "stats" / f"{self.name}.json"
        self.confirm_path = state / "confirm" / f"{self.name}.json"
        self.min_interval = 1.0 / pipe.max_fps if pipe.max_fps else 0.0
        self.publishing = _Publishing(config, pipe, self.name)
        self.pipeline = Pipeline(pipe.name, build_detector(pipe, state / "models"),
                                 self.publishing.sink, camera_setups(pipe), build_renderer(pipe))
        self.feeds = [_Feed(cid) for cid in pipe.cameras]
        self._restore_confirm()
        self.next_stats = 0.0
        self.orphaned = False
        publishers = list(self.publishing.stats().get("publishers", {}))
        self.page = TelemetryPage.create(config.pool.name, self.name, pipe.cameras, publishers)

    def run(self) -> int:
        """Process frames until ``stop`` is set (or the supervisor is gone)."""
        log.info("%s: %d camera(s), detector %s", self.name, len(self.feeds), self.pipeline.detector.name)
        while not self.stop.is_set():
            if not self._pass():
                self._idle()
            self._housekeeping()
        return EXIT_ORPHANED if self.orphaned else EXIT_OK

    def _pass(self) -> bool:
        """Offer each camera's newest unseen frame to the pipeline; True if any was processed."""
        busy = False
        for feed in self.feeds:
            if feed.cam is None and not self._attach(feed):
                continue
            try:
                busy |= self._offer(feed)
            except RingError as exc:           # the pool closed the ring (stopping, reloading)
                log.info("camera %s detached: %s", feed.camera_id, exc)
                self._detach(feed)
        return busy

    def _offer(self, feed: _Feed) -> bool:
        if time.monotonic() - feed.last_done < self.min_interval:
            return False
        frame = feed.cam.latest() if feed.cam else None
        if frame is None or frame.seq <= feed.last_seq:
            return False
        counters = self.pipeline.stats.camera(feed.camera_id)
        if feed.last_seq:
            counters.frames_missed += max(frame.seq - feed.last_seq - 1, 0)
        feed.last_seq, feed.last_done = frame.seq, time.monotonic()
        self.pipeline.process(feed.camera_id, frame.array, frame.capture_ts, frame.is_intact)
        if self.pipeline.confirm_revision() != self.saved_revision:
            self.save_confirm()
        return True

    def _attach(self, feed: _Feed) -> bool:
        if time.monotonic() < feed.retry_at:
            return False
        try:
            feed.cam = client.attach(feed.camera_id, pool=self.config.pool.name)
        except RingError as exc:
            feed.retry_at = time.monotonic() + _ATTACH_RETRY_S
            log.debug("camera %s not attachable yet: %s", feed.camera_id, exc)
            return False
        log.info("attached to camera %s", feed.camera_id)
        return True

    def _detach(self, feed: _Feed) -> None:
        if feed.cam is not None:
            feed.cam.close()
        feed.cam, feed.retry_at = None, time.monotonic() + _ATTACH_RETRY_S

    def _idle(self) -> None:
        """Nothing new: sleep on a camera's futex (or the stop event) for a short while."""
        attached = [(f, f.cam) for f in self.feeds if f.cam is not None]
        if len(attached) == 1 and not self.min_interval:
            feed, cam = attached[0]
            try:
                cam.reader.wait(_IDLE_WAIT_S)
            except RingError:
                self._detach(feed)
            return
        self.stop.wait(_IDLE_WAIT_S / max(len(attached), 1) if attached else _IDLE_WAIT_S)

    def _housekeeping(self) -> None:
        if os.getppid() != self.parent and not self.orphaned:
            log.error("supervisor %d died: stopping", self.parent)
            self.orphaned = True
            self.stop.set()
        if time.monotonic() >= self.next_stats:
            self.write_stats()
            self.save_confirm()
            self.next_stats = time.monotonic() + STATS_INTERVAL_S

    def write_stats(self, final: bool = False) -> None:
        """The telemetry page (and at exit the stats file): pipeline counters, histogram, outbox."""
        doc = self.pipeline.stats.to_dict(self.name, self.pipeline.detector.name)
        doc["outbox"] = self.publishing.stats()
        self.page.publish(doc)
        if final:
            write_json_atomic(self.stats_path, doc)

    def _restore_confirm(self) -> None:
        """Reopen the presences the previous run of this worker left open."""
        state = load_confirm_state(self.confirm_path)
        restored = self.pipeline.confirm_restore(state, time.time(),
                                                 detected_classes(self.pipeline.detector))
        if restored:
            log.info("%s: %d open presence(s) restored from %s", self.name, restored, self.confirm_path)
        self.saved_revision = self.pipeline.confirm_revision()
        self.saved_state = self.pipeline.confirm_snapshot()
        if state and state != self.saved_state:
            self.save_confirm(force=True)     # what was dropped is gone from the file too

    def save_confirm(self, force: bool = False) -> None:
        """Store the open presences if they changed since the last save."""
        doc = self.pipeline.confirm_snapshot()
        self.saved_revision = self.pipeline.confirm_revision()
        if doc == self.saved_state and not force:
            return
        try:
            write_json_atomic(self.confirm_path, doc)
        except OSError as exc:
            log.warning("cannot save confirmation state %s: %s", self.confirm_path, exc)
            return
        self.saved_state = doc

    def close(self) -> None:
        for feed in self.feeds:
            self._detach(feed)
        self.save_confirm()
        try:
            self.write_stats(final=True)
        finally:
            self.page.close()
        self.publishing.close(self.config.pool.shutdown_timeout_s / 2)
        self.pipeline.close()


def run_inference(payload: tuple[PoolConfig, str], stop: threading.Event) -> int:
    """Entry point ``kvs_pool.workers.inference:run_inference``; returns the exit code."""
    config, name = payload
    pipe = next((p for p in config.pipelines if p.name == name), None)
    if pipe is None:
        log.error("pipeline %r is not in the configuration", name)
        return EXIT_CONFIG
    try:
        worker = _Worker(config, pipe, stop)
    except (ConfigError, DetectorError, ValueError) as exc:
        log.error("pipeline %s cannot start: %s", name, exc)
        return EXIT_CONFIG
    try:
        return worker.run()
    except KvsPoolError as exc:
        log.error("pipeline %s failed: %s", name, exc)
        raise
    finally:
        worker.close()
