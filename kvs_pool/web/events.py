"""Recent events for the status page: the tail of the pool's JSON-lines event files.

Where events are kept: the outbox forgets an event once every publisher has it, so the only
local record of past events is what a ``jsonl`` publisher appended. Each configured jsonl file
is read from its end (at most ``_TAIL_BYTES``), parsed once per change of its size or mtime,
and merged newest first. A pool without a jsonl publisher shows no events (the page says so).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["EventLog", "jsonl_paths"]

log = logging.getLogger(__name__)

_TAIL_BYTES = 512 * 1024


def jsonl_paths(config: Any) -> list[str]:
    """The files of every ``jsonl`` publisher of the config's pipelines."""
    paths = []
    for pipe in getattr(config, "pipelines", ()):
        for pub in pipe.publishers:
            if getattr(pub, "type", None) == "jsonl" and str(pub.path) not in paths:
                paths.append(str(pub.path))
    return paths


class EventLog:
    """Newest-first recent events read from JSON-lines files (re-read only when they change)."""

    def __init__(self, paths: Callable[[], Sequence[str]]) -> None:
        self._paths = paths
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, float], list[dict[str, Any]]]] = {}

    def recent(self, camera_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Up to ``limit`` events, newest first, of one camera or all."""
        events: list[dict[str, Any]] = []
        for path in self._paths():
            events.extend(self._read(path))
        if camera_id is not None:
            events = [e for e in events if e.get("camera_id") == camera_id]
        events.sort(key=_when, reverse=True)
        return events[:limit]

    def _read(self, path: str) -> list[dict[str, Any]]:
        try:
            st = os.stat(path)
        except OSError:
            return []
        key = (st.st_size, st.st_mtime)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            events = _tail(path, st.st_size)
            self._cache[path] = (key, events)
            return events


def _when(event: dict[str, Any]) -> float:
    for field in ("detected_ts", "frame_ts"):
        value = event.get(field)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def _tail(path: str, size: int) -> list[dict[str, Any]]:
    """The events of the last ``_TAIL_BYTES`` of the file (a cut first line is skipped); one
    event per ``event_id`` and ``type`` (a publisher retry may repeat a line)."""
    try:
        with open(path, "rb") as fh:
            start = max(0, size - _TAIL_BYTES)
            fh.seek(start)
            data = fh.read(_TAIL_BYTES)
    except OSError as exc:
        log.debug("cannot read events from %s: %s", path, exc)
        return []
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            seen[(event.get("event_id"), event.get("type"))] = event
    return list(seen.values())
