"""The heartbeat rule of each kind of worker: when it last proved progress (monotonic).

A decoder beats in its camera's ring header; other workers (inference) stamp the
CLOCK_MONOTONIC heartbeat of their telemetry page (``kvs_pool.telemetry_page``; never a file's
mtime: a wall-clock step would make a worker look hung or alive). A new kind of worker adds its
rule to ``HeartbeatRules.by_kind``; a kind without one is read from its telemetry page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kvs_pool.errors import RingError
from kvs_pool.pool.rings import RingSet
from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.telemetry_page import read_page

log = logging.getLogger(__name__)

__all__ = ["HeartbeatRules"]

Rule = Callable[[WorkerSpec, int, float], float]


class HeartbeatRules:
    """``last(spec, pid, started)``: the worker's last beat, 0 when none."""

    def __init__(self, rings: RingSet) -> None:
        self.rings = rings
        self.by_kind: dict[str, Rule] = {"decoder": self.ring_beat}

    def last(self, spec: WorkerSpec, pid: int, started: float) -> float:
        return self.by_kind.get(spec.kind, self.page_beat)(spec, pid, started)

    def ring_beat(self, spec: WorkerSpec, pid: int, started: float) -> float:
        """A decoder's last beat from its ring header (0: none from this process).

        A decoder detaches on its way out: the producer pid is cleared, the heartbeat stays.
        A beat newer than the spawn can only be this process's (the previous one was reaped
        before it started), so it stands until the process is reaped. Reading "cleared pid"
        as "never beat" used to judge a decoder that ran longer than its stall limit and then
        exited on its own as hung since its spawn: SIGTERM, wrong exit, no backoff.
        """
        status = self.rings.status(spec.camera_id) if spec.camera_id else None
        if status is None:
            return 0.0
        if status.producer_pid == pid:
            return status.heartbeat_mono
        if status.producer_pid == 0 and status.heartbeat_mono > started:
            return status.heartbeat_mono
        return 0.0

    def page_beat(self, spec: WorkerSpec, pid: int, started: float) -> float:
        """The monotonic stamp of the worker's telemetry page (0: no page yet, or refused)."""
        try:
            doc = read_page(self.rings.pool, spec.name)
        except RingError as exc:
            log.warning("%s: %s", spec.name, exc)
            return 0.0
        return float(doc["updated_mono"]) if doc else 0.0
