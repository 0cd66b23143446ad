"""Temporal confirmation: turn per-frame detections into one start and one end per presence.

State is kept per key: the class, or (class, ROI) with ``per_roi``. Each processed frame pushes,
for every key, the best score seen for it in that frame (0 when absent) into a window of the last
``window`` processed frames (a new key starts from a window of zeros, so a single frame can
never confirm). A key is **confirmed** when, in mode ``hits``, at least ``hits`` frames of the
window saw it, or in mode ``median``, when the median score over the window reaches
``score_threshold``. Confirmation opens a presence and emits ``start``.

A presence **ends** when its window holds no hit and ``end_after_s`` seconds of frame time have
passed since its last hit: one ``end``. A reappearance before that is the same presence, so
flicker and short occlusions make one event. ``cooldown_s`` bounds the event rate of a key: a
presence confirmed less than ``cooldown_s`` after the previous start of that key is followed
silently (no start, no end), so starts and ends always pair.

Frames the motion gate skipped (nothing moved) are accounted with ``hold``: the scene is what
the last processed frame showed, so presences seen in it continue (a hit: a person standing still
stays present) and every other key counts as absent (so a presence ends even when the scene goes
still right after it left). A hold never confirms anything: only frames the detector saw do.

Time is the frame's capture timestamp, passed in: the logic is deterministic and needs no clock.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kvs_pool.pipeline.detection import Detection

__all__ = ["ConfirmParams", "Transition", "Confirmer"]

Key = tuple[str, str | None]


@dataclass(frozen=True)
class ConfirmParams:
    """Confirmation settings (``config.ConfirmConfig``, mapped by ``workers.pipeline_params``)."""

    hits: int = 3
    window: int = 5
    cooldown_s: float = 10.0
    mode: str = "hits"                # hits | median
    score_threshold: float = 0.5      # for mode median
    end_after_s: float = 10.0
    per_roi: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("hits", "median") or not 1 <= self.hits <= self.window:
            raise ValueError(f"confirm: mode {self.mode!r}, hits {self.hits}, window {self.window}"
                             ": mode must be hits/median and 1 <= hits <= window")


@dataclass(frozen=True)
class Transition:
    """A presence starting or ending; ``presence_id`` is shared by its start and end."""

    kind: str                      # "start" | "end"
    label: str
    roi: str | None
    detection: Detection           # start: the best of the confirming frame; end: the last hit
    presence_id: str
    started_ts: float
    last_hit_ts: float


@dataclass
class _Track:
    scores: deque[float]
    active: bool = False
    silent: bool = False           # inside the cool-down: followed, not reported
    presence_id: str = ""
    started_ts: float = 0.0
    last_hit_ts: float = 0.0
    last_hit: Detection | None = None
    seen_last: bool = False        # seen in the last processed frame


@dataclass
class Confirmer:
    """Confirmation state of one camera."""

    params: ConfirmParams = field(default_factory=ConfirmParams)
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    tracks: dict[Key, _Track] = field(default_factory=dict)
    last_start: dict[Key, float] = field(default_factory=dict)
    suppressed: int = 0

    def _key(self, det: Detection) -> Key:
        return (det.label, det.roi if self.params.per_roi else None)

    def _confirmed(self, scores: deque[float]) -> bool:
        if self.params.mode == "median":
            return float(np.median(scores)) >= self.params.score_threshold
        return sum(1 for s in scores if s > 0) >= self.params.hits

    def _best_per_key(self, detections: list[Detection]) -> dict[Key, Detection]:
        best: dict[Key, Detection] = {}
        for det in detections:
            key = self._key(det)
            if key not in best or det.score > best[key].score:
                best[key] = det
        return best

    def update(self, detections: list[Detection], frame_ts: float) -> list[Transition]:
        """Account one processed frame; the starts and ends it causes, in key order."""
        best = self._best_per_key(detections)
        for key in best:
            if key not in self.tracks:
                self.tracks[key] = _Track(deque([0.0] * self.params.window, maxlen=self.params.window))
        out = []
        for key, track in list(self.tracks.items()):
            track.seen_last = key in best
            out += self._advance(key, track, best.get(key), frame_ts)
        return out

    def hold(self, frame_ts: float) -> list[Transition]:
        """Account a frame the gate skipped: what the last processed frame showed still holds."""
        out = []
        for key, track in list(self.tracks.items()):
            if track.active and track.seen_last:
                track.scores.append(track.scores[-1])      # the last real frame's score
                track.last_hit_ts = frame_ts
                continue
            out += self._advance(key, track, None, frame_ts)
        return out

    def _advance(self, key: Key, track: _Track, det: Detection | None, ts: float) -> list[Transition]:
        transition = self._step(key, track, det, ts)
        if not track.active and not any(track.scores):
            del self.tracks[key]          # forgotten: memory stays bounded
        return [transition] if transition is not None else []

    def _start(self, key: Key, track: _Track, det: Detection, ts: float) -> Transition | None:
        track.active, track.presence_id, track.started_ts = True, self.new_id(), ts
        previous = self.last_start.get(key)
        track.silent = previous is not None and ts - previous < self.params.cooldown_s
        if track.silent:
            self.suppressed += 1
            return None
        self.last_start[key] = ts
        return Transition("start", key[0], det.roi, det, track.presence_id, ts, ts)

    def _step(self, key: Key, track: _Track, det: Detection | None, ts: float) -> Transition | None:
        track.scores.append(det.score if det else 0.0)
        if det is not None:
            track.last_hit_ts, track.last_hit = ts, det
        if not track.active:
            return self._start(key, track, det, ts) if det and self._confirmed(track.scores) else None
        if any(track.scores) or ts - track.last_hit_ts < self.params.end_after_s:
            return None
        track.active = False
        if track.silent:
            return None
        last = track.last_hit or Detection((0.0, 0.0, 0.0, 0.0), 0.0, key[0])
        return Transition("end", key[0], last.roi, last, track.presence_id,
                          track.started_ts, track.last_hit_ts)
