"""A worker slot: one spec, its current process (if any), and its restart bookkeeping.

Restart delay after an exit (per worker, from the camera's backoff policy):

* the first failure after a healthy run restarts at once (a decoder killed after hours of
  work is back in well under 2 s plus connect time);
* each further consecutive failure waits the backoff's next delay: initial_s, x factor, up to
  max_s, jittered (defaults 5 s -> 60 s, x2, 80-120 %);
* a permanent failure (exit 3, configuration) waits max_s at once;
* a run longer than ``reset_after_s`` forgets past failures.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from kvs_pool.backoff import Backoff
from kvs_pool.exits import EXIT_CONFIG
from kvs_pool.supervisor.child import ChildHandle
from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.supervisor.view import WorkerView

__all__ = ["Retirement", "WorkerSlot"]


class Retirement(enum.Enum):
    """Why the arbiter stopped a worker on purpose, i.e. what to do once it has exited."""

    REMOVE = "remove"      # gone from the config: drop its slot
    REPLACE = "replace"    # its config changed: start ``next_spec`` in a fresh slot
    STALL = "stall"        # hung: restart it with backoff, as after a crash


@dataclass
class WorkerSlot:
    """Runtime state of one supervised worker (owned by the arbiter's main loop)."""

    spec: WorkerSpec
    backoff: Backoff = field(init=False)
    handle: ChildHandle | None = None
    started: float = 0.0                 # monotonic time of the last spawn
    restart_at: float | None = 0.0       # monotonic time of the next spawn; None: none planned
    spawns: int = 0
    config_restarts: int = 0             # spawns that replaced a worker whose config changed
    after_reload: bool = False           # the next spawn replaces a worker (config change)
    kill_at: float | None = None         # SIGKILL deadline after a SIGTERM we sent
    retiring: Retirement | None = None   # why we stopped it, while it is stopping
    next_spec: WorkerSpec | None = None  # what replaces it (Retirement.REPLACE)
    last_exit: str = ""

    def __post_init__(self) -> None:
        self.backoff = Backoff(self.spec.backoff, random.Random())

    @property
    def up(self) -> bool:
        return self.handle is not None

    @property
    def restarts(self) -> int:
        """Restarts after an exit or a hang; a reload's restarts are ``config_restarts``."""
        return max(self.spawns - 1 - self.config_restarts, 0)

    def spec_after_retirement(self) -> WorkerSpec | None:
        """The spec this slot runs once its retirement (if any) is done; None: removed."""
        if self.retiring is Retirement.REMOVE:
            return None
        if self.retiring is Retirement.REPLACE:
            return self.next_spec
        return self.spec

    def replaced_by(self, spec: WorkerSpec, now: float) -> WorkerSlot:
        """The slot that takes over after a config change, keeping the counts."""
        fresh = WorkerSlot(spec)
        fresh.spawns, fresh.restart_at = self.spawns, now
        fresh.config_restarts = self.config_restarts + (1 if self.spawns else 0)
        fresh.after_reload = self.spawns > 0
        return fresh

    def plan_restart(self, code: int | None, now: float) -> float:
        """Record an exit and schedule the next spawn; returns the delay chosen."""
        policy = self.spec.backoff
        if now - self.started >= policy.reset_after_s:
            self.backoff.reset()
        if code == EXIT_CONFIG:
            self.backoff.failures += 1
            delay = policy.max_s * self.backoff.rng.uniform(policy.jitter_low, policy.jitter_high)
        elif self.backoff.failures == 0:
            self.backoff.failures = 1     # fast first restart; the next one backs off
            delay = 0.0
        else:
            delay = self.backoff.policy.base_delay(self.backoff.failures) * \
                self.backoff.rng.uniform(policy.jitter_low, policy.jitter_high)
            self.backoff.failures += 1
        self.restart_at = now + delay
        return delay

    def view(self, now: float) -> WorkerView:
        """An immutable snapshot for metrics and the state file."""
        pending = max(self.restart_at - now, 0.0) if self.restart_at is not None else 0.0
        return WorkerView(
            name=self.spec.name, kind=self.spec.kind, camera_id=self.spec.camera_id,
            pid=self.handle.pid if self.handle else 0, up=self.up, restarts=self.restarts,
            failures=self.backoff.failures, backoff_s=0.0 if self.up else pending,
            last_exit=self.last_exit, heartbeat_timeout_s=self.spec.heartbeat_timeout_s,
            frame_timeout_s=self.spec.frame_timeout_s, target_fps=self.spec.target_fps,
            config_restarts=self.config_restarts)
