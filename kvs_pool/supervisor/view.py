"""A worker as the supervisor sees it: the snapshot read by metrics and the state file."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkerView"]


@dataclass(frozen=True)
class WorkerView:
    """One supervised worker as the supervisor sees it (an immutable snapshot)."""

    name: str
    kind: str                   # "decoder" | "inference" | ...
    camera_id: str | None
    pid: int                    # 0 while not running
    up: bool
    restarts: int               # restarts after an exit or a hang (not asked by a reload)
    failures: int               # consecutive failures (0: healthy)
    backoff_s: float            # delay of the pending restart (0: running or restarting now)
    last_exit: str = ""
    heartbeat_timeout_s: float = 20.0
    frame_timeout_s: float | None = None   # configured (None: kvs_pool.stall derives it)
    target_fps: float | None = None
    config_restarts: int = 0    # restarts asked by a reload (its config changed)
