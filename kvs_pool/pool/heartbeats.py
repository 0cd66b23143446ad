"""The heartbeat rule of each kind of worker: when it last proved progress (monotonic).

A decoder beats in its camera's ring header; other workers (inference) rewrite their stats
file. A new kind of worker adds its rule to ``HeartbeatRules.by_kind``; a kind without one is
read from its stats file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from kvs_pool.pool.rings import RingSet
from kvs_pool.supervisor.specs import WorkerSpec

__all__ = ["HeartbeatRules"]

Rule = Callable[[WorkerSpec, int, float], float]


class HeartbeatRules:
    """``last(spec, pid, started)``: the worker's last beat, 0 when none."""

    def __init__(self, rings: RingSet, stats_dir: str | None) -> None:
        self.rings = rings
        self.stats_dir = stats_dir
        self.by_kind: dict[str, Rule] = {"decoder": self.ring_beat}

    def last(self, spec: WorkerSpec, pid: int, started: float) -> float:
        return self.by_kind.get(spec.kind, self.stats_file_beat)(spec, pid, started)

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

    def stats_file_beat(self, spec: WorkerSpec, pid: int, started: float) -> float:
        """The mtime of the worker's stats file (wall clock, mapped onto monotonic)."""
        if not self.stats_dir:
            return 0.0
        try:
            mtime = os.stat(os.path.join(self.stats_dir, f"{spec.name}.json")).st_mtime
        except FileNotFoundError:
            return 0.0
        return time.monotonic() - max(time.time() - mtime, 0.0)
