"""What the metrics code reads from a running pool: the ``PoolView`` protocol it is given.

The pool (``kvs_pool.pool.runtime``) implements it; tests may hand in a fake. The collector
and ``/healthz`` call it at scrape time from the HTTP thread, so implementations must be safe
to call from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kvs_pool.ring import RingStatus
from kvs_pool.supervisor.view import WorkerView  # the supervisor's snapshot of a worker

__all__ = ["WorkerView", "PoolView"]


class PoolView(Protocol):
    """The pool as seen by the collector and the health check."""

    pool: str
    stats_dir: str | None

    def workers(self) -> Sequence[WorkerView]: ...

    def camera_ids(self) -> Sequence[str]: ...

    def ring_status(self, camera_id: str) -> RingStatus | None: ...
