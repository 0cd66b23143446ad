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

State survives a worker restart through ``snapshot()`` (a JSON-able dict of the open presences,
announced or silent, and the cool-down starts) and ``restore(state, now_wall)``: a restored
presence is still open, so seeing it again emits no second ``start``, and its absence ends it
with one ``end`` once ``end_after_s`` has passed since its last hit (capture times are Unix
seconds, so they survive a restart; the window restarts empty). What no rule can use any more is
dropped: cool-downs already over, silent presences past their end. ``revision`` counts the
changes a snapshot must record (a presence opened or closed), so callers save only then.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kvs_pool.pipeline.detection import Detection

__all__ = ["ConfirmParams", "Transition", "Confirmer", "STATE_VERSION"]

Key = tuple[str, str | None]

STATE_VERSION = 1        # layout of ``Confirmer.snapshot()``


@dataclass(frozen=True)
class ConfirmParams:
    """Confirmation settings (``config.ConfirmConfig``, mapped by ``workers.params``)."""

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
    revision: int = 0              # +1 whenever a presence opens or closes

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
        self.revision += 1
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
        self.revision += 1
        if track.silent:
            return None
        last = track.last_hit or Detection((0.0, 0.0, 0.0, 0.0), 0.0, key[0])
        return Transition("end", key[0], last.roi, last, track.presence_id,
                          track.started_ts, track.last_hit_ts)

    def snapshot(self) -> dict[str, Any]:
        """The open presences and cool-down starts as a JSON-able dict (see ``restore``)."""
        open_ = [_track_doc(key, t) for key, t in self.tracks.items() if t.active]
        starts = [{"class": k[0], "key_roi": k[1], "ts": ts} for k, ts in self.last_start.items()]
        return {"version": STATE_VERSION, "open": open_, "last_start": starts}

    def restore(self, state: dict[str, Any], now_wall: float,
                keep: Callable[[str, str | None], bool] | None = None) -> int:
        """Take back a ``snapshot()`` taken before a restart; ``now_wall`` is Unix seconds.

        Entries ``keep(class, key_roi)`` refuses (the config changed) and entries no rule can
        use any more are dropped; malformed state is ignored. Returns the presences reopened."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            return 0
        usable = self._usable_key if keep is None else (
            lambda label, roi: self._usable_key(label, roi) and keep(label, roi))
        for doc in _entries(state, "last_start"):
            key, ts = (doc["class"], doc["key_roi"]), float(doc["ts"])
            if usable(*key) and now_wall - ts < self.params.cooldown_s:
                self.last_start[key] = max(ts, self.last_start.get(key, ts))
        restored = 0
        for doc in _entries(state, "open"):
            key = (doc["class"], doc["key_roi"])
            if not usable(*key) or key in self.tracks:
                continue
            if doc["silent"] and now_wall - float(doc["last_seen_ts"]) >= self.params.end_after_s:
                continue                  # would end silently: nothing left to pair
            self.tracks[key] = self._reopened(doc)
            restored += 1
        return restored

    def _usable_key(self, label: object, roi: object) -> bool:
        return isinstance(label, str) and (roi is None or (self.params.per_roi and isinstance(roi, str)))

    def _reopened(self, doc: dict[str, Any]) -> _Track:
        x1, y1, x2, y2 = (float(v) for v in doc["box"])
        det = Detection((x1, y1, x2, y2), float(doc["score"]), doc["class"], roi=doc["roi"])
        return _Track(deque([0.0] * self.params.window, maxlen=self.params.window), active=True,
                      silent=bool(doc["silent"]), presence_id=str(doc["presence_id"]),
                      started_ts=float(doc["started_ts"]),
                      last_hit_ts=float(doc["last_seen_ts"]), last_hit=det)


def _entries(state: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The well-formed entries of one list of a snapshot (a damaged entry is skipped)."""
    needs = {"last_start": ("class", "key_roi", "ts"),
             "open": ("class", "key_roi", "roi", "presence_id", "silent", "started_ts",
                      "last_seen_ts", "box", "score")}[name]
    docs = state.get(name)
    good = []
    for doc in docs if isinstance(docs, list) else []:
        try:
            if not all(k in doc for k in needs):
                continue
            box = list(doc["box"]) if name == "open" else [0, 0, 0, 0]
            numbers = [doc[k] for k in needs if k.endswith(("ts", "score"))] + box
            if len(box) == 4 and all(isinstance(v, (int, float)) for v in numbers):
                good.append(doc)
        except (KeyError, TypeError):
            continue
    return good


def _track_doc(key: Key, track: _Track) -> dict[str, Any]:
    """One open presence of ``Confirmer.snapshot()``."""
    last = track.last_hit or Detection((0.0, 0.0, 0.0, 0.0), 0.0, key[0])
    return {"class": key[0], "key_roi": key[1], "roi": last.roi, "presence_id": track.presence_id,
            "silent": track.silent, "started_ts": track.started_ts,
            "last_seen_ts": track.last_hit_ts, "box": [float(v) for v in last.box],
            "score": float(last.score)}
