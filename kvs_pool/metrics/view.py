"""What the metrics code reads from a running pool: the ``PoolView`` protocol it is given.

The supervisor implements it; tests may hand in a fake. The collector and ``/healthz`` call it
at scrape time from the HTTP thread, so implementations must be safe to call from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kvs_pool.ring import RingStatus

__all__ = ["WorkerView", "PoolView"]


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


class PoolView(Protocol):
    """The pool as seen by the collector and the health check."""

    pool: str
    stats_dir: str | None

    def workers(self) -> Sequence[WorkerView]: ...

    def camera_ids(self) -> Sequence[str]: ...

    def ring_status(self, camera_id: str) -> RingStatus | None: ...
