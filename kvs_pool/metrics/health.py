"""Is each camera healthy? The rule behind ``/healthz`` and ``kvs-pool status``.

A camera is healthy when its decoder process is up, its heartbeat is fresher than the stall
timeout, its connection state is ``connected`` and its last frame is younger than the camera's
frame timeout: the one rule of ``kvs_pool.stall``, at the rate the ring is written (what the
stream delivers after sampling), so a healthy 0.05 fps camera gets 100 s, as its source does.
"""

from __future__ import annotations

from kvs_pool.metrics.liveness import current
from kvs_pool.metrics.view import PoolView, WorkerView
from kvs_pool.ring import ConnectionState, RingStatus
from kvs_pool.stall import frame_timeout

__all__ = ["camera_problem", "unhealthy_cameras"]


def camera_problem(worker: WorkerView | None, status: RingStatus | None) -> str | None:
    """Why this camera is not healthy, or None if it is."""
    if worker is None or status is None:
        return "no decoder or no ring"
    status = current(status)
    if not worker.up:
        return f"decoder down ({worker.last_exit or 'starting'}; retry in {worker.backoff_s:.1f} s)"
    if status.heartbeat_age > worker.heartbeat_timeout_s:
        return f"decoder heartbeat {status.heartbeat_age:.1f} s old"
    if status.state != ConnectionState.CONNECTED:
        return f"connection {ConnectionState(status.state).name.lower()}"
    limit = frame_timeout(status.fps, worker.target_fps, worker.frame_timeout_s)
    if status.last_frame_age > limit:
        return f"no frame for {status.last_frame_age:.1f} s (limit {limit:.1f} s)"
    return None


def unhealthy_cameras(view: PoolView) -> dict[str, str]:
    """Camera id -> reason, for every camera that is not healthy."""
    decoders = {w.camera_id: w for w in view.workers() if w.kind == "decoder"}
    problems = {}
    for camera_id in view.camera_ids():
        reason = camera_problem(decoders.get(camera_id), view.ring_status(camera_id))
        if reason:
            problems[camera_id] = reason
    return problems
