"""The status document of a pool: what ``kvs-pool status --json`` prints and ``GET /api/status``
starts from, so both always hold the same fields.

Per camera, values read from its ring header (state, fps, frames, last frame age, decoder pid;
``metrics.liveness`` makes a ring whose decoder is gone read disconnected at 0 fps), overlaid
with the supervisor's view of its decoder when there is one (restarts, up, backoff, last exit);
then the workers as given. ``state`` is a worker table in the state file's shape
(``kvs_pool.pool.statefile``: ``{"workers": [WorkerView as a dict, ...]}``) or None: the CLI
reads it from the file, the web server builds it from the live worker table.

It lives here, below both the CLI and the web server, because it only reads rings and a worker
table; each caller adds its own part (the CLI a text table, the web server page fields).
"""

from __future__ import annotations

from typing import Any

from kvs_pool.errors import RingError
from kvs_pool.metrics.liveness import current
from kvs_pool.ring import ConnectionState, RingStatus, peek_status

__all__ = ["status_document", "collect_rows"]


def status_document(pool: str, state: dict[str, Any] | None,
                    cameras: list[str]) -> dict[str, Any]:
    """The document: ``pool``, ``cameras`` (``collect_rows``) and the state's ``workers``."""
    return {"pool": pool, "cameras": collect_rows(pool, state, cameras),
            "workers": (state or {}).get("workers", [])}


def collect_rows(pool: str, state: dict[str, Any] | None,
                 cameras: list[str]) -> list[dict[str, Any]]:
    """One row per camera: ring values plus the supervisor's view of its decoder."""
    workers = {w.get("camera_id"): w for w in (state or {}).get("workers", [])
               if w.get("kind") == "decoder"}
    rows = []
    for camera_id in cameras:
        ring, worker = _ring(pool, camera_id), workers.get(camera_id)
        row: dict[str, Any] = {"camera_id": camera_id, "running": ring is not None}
        if ring is not None:
            row.update(state=ConnectionState(ring.state).name.lower(), fps=round(ring.fps, 2),
                       frames=ring.frames, last_frame_age=ring.last_frame_age,
                       restarts=max(ring.writer_starts - 1, 0), pid=ring.producer_pid)
        if worker is not None:
            row.update(restarts=worker["restarts"], up=worker["up"],
                       backoff_s=worker["backoff_s"], last_exit=worker["last_exit"])
        rows.append(row)
    return rows


def _ring(pool: str, camera_id: str) -> RingStatus | None:
    try:  # the header page only: attaching would map and prefault every slot of every ring
        return current(peek_status(pool, camera_id))
    except RingError:
        return None
