"""The supervisor's one seam to what it runs: the ``PoolHooks`` protocol.

The arbiter knows worker specs, processes and this protocol only. Whatever surrounds the
workers (shared-memory rings, an embedded emulator, the metrics endpoint, the state file, the
config and its reload, the heartbeat rule of each kind of worker) lives behind it, in the
composition layer (``kvs_pool.pool.runtime``). Hooks run on the arbiter's main thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.supervisor.view import WorkerView

__all__ = ["PoolHooks", "Specs"]

Specs = Mapping[str, WorkerSpec]


class PoolHooks(Protocol):
    """What the arbiter asks of the pool it supervises."""

    # Read-only for the arbiter: a plain attribute, a class attribute or a property will do.
    @property
    def name(self) -> str:
        """The pool's name (process titles, log lines)."""

    @property
    def shutdown_timeout_s(self) -> float:
        """Bound on stopping every worker, in seconds."""

    @property
    def preload(self) -> tuple[str, ...]:
        """Modules every worker template imports before it forks."""

    def start(self) -> Specs:
        """Acquire the pool's resources; returns the workers to run. May raise (then
        ``stop`` is still called)."""

    def stop(self) -> None:
        """Release the resources, once every worker ended (also after a failed ``start``)."""

    def reload(self) -> Specs | None:
        """SIGHUP: the workers to run now, or None to keep the running ones."""

    def poll(self) -> Specs | None:
        """Every tick: new workers to run when they changed (e.g. reassignment), else None."""

    def prepare(self, spec: WorkerSpec) -> None:
        """Before a spawn (e.g. create the worker's ring); raising ``OSError`` or
        ``KvsPoolError`` postpones the spawn with backoff."""

    def removed(self, spec: WorkerSpec) -> None:
        """A worker removed from the pool has exited (e.g. drop its ring)."""

    def heartbeat(self, spec: WorkerSpec, pid: int, started: float) -> float:
        """Monotonic time the worker ``pid`` (spawned at ``started``) last proved progress;
        0 or anything up to ``started``: no beat yet from that process."""

    def report(self, workers: Sequence[WorkerView], force: bool, stopped: bool) -> None:
        """The worker table after a tick (``force``: write it out now; ``stopped``: final)."""
