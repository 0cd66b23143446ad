"""The supervisor's state file ``<state_dir>/supervisor.json``: the worker table on disk.

Why a file: the ring header knows a decoder's counters but not the supervisor's side (restart
count, pending backoff, why it last exited, inference workers). ``kvs-pool status`` runs as
another process, possibly with the metrics endpoint disabled; a small JSON file written
atomically (temp + rename) about once a second is the simplest thing it can read. It also
records the pid and the metrics URL (the real port when configured as 0), when the supervisor
started (``started``, Unix s) and, written last by a clean stop, ``stopped: true``: a reader
tells a running pool from a stopped one and from one whose supervisor was killed (its file
still says every worker is up) with ``supervisor_state``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import psutil

from kvs_pool.metrics import WorkerView

__all__ = ["STATE_FILE", "state_path", "write_state", "read_state", "supervisor_state"]

STATE_FILE = "supervisor.json"


def state_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def write_state(state_dir: str, pool: str, workers: Sequence[WorkerView],
                extra: dict[str, Any]) -> None:
    """Atomically replace the state file."""
    doc = {"pool": pool, "pid": os.getpid(), "updated": time.time(), **extra,
           "workers": [dataclasses.asdict(w) for w in workers]}
    os.makedirs(state_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".supervisor.", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, state_path(state_dir))
    except BaseException:
        os.unlink(tmp)
        raise


def read_state(state_dir: str) -> dict[str, Any] | None:
    """The last state written, or None if there is none (or it is unreadable, or not a JSON
    object: a damaged or foreign file)."""
    try:
        with open(state_path(state_dir), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def supervisor_state(doc: dict[str, Any]) -> str:
    """``running``, ``stopped`` (a clean stop) or ``gone`` (killed: its pid has no process, or
    a younger process reuses it)."""
    if doc.get("stopped"):
        return "stopped"
    try:
        pid = int(doc.get("pid") or 0)
        started = float(doc.get("started") or doc.get("updated") or 0.0)
        alive = pid > 0 and psutil.Process(pid).create_time() <= started + 1.0
    except (psutil.Error, TypeError, ValueError):
        alive = False
    return "running" if alive else "gone"
