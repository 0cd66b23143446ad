"""One pool at run time: the ``PoolHooks`` the supervisor drives, composed from a config.

``PoolRuntime`` owns what surrounds the workers: the config (and its SIGHUP reload), the
instance's assignment (sharding, leases), the worker specs built from it, the cameras' rings,
the embedded emulator, the metrics/web endpoint (it is the endpoint's ``PoolView``), the state
file and the heartbeat rule of each kind of worker. ``pool_arbiter`` wires it under an
``Arbiter``; ``kvs-pool run`` calls it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kvs_pool.config import PoolConfig, load_config
from kvs_pool.errors import KvsPoolError
from kvs_pool.metrics import MetricsServer
from kvs_pool.pool.emulator import EmbeddedEmulator
from kvs_pool.pool.exposure import exposure_warnings
from kvs_pool.pool.heartbeats import HeartbeatRules
from kvs_pool.pool.rings import RingSet
from kvs_pool.pool.specs import SHARED_PRELOAD, specs_from_config
from kvs_pool.pool.statefile import write_state
from kvs_pool.ring import RingStatus, sweep_stale
from kvs_pool.supervisor import Arbiter, RunOptions
from kvs_pool.supervisor.hooks import Specs
from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.supervisor.view import WorkerView

__all__ = ["Assignment", "PoolOptions", "PoolRuntime", "pool_arbiter"]

log = logging.getLogger(__name__)

_STATE_EVERY_S = 1.0


class Assignment(Protocol):
    """Which cameras of the config this instance runs (sharding, leases: ``kvs_pool.pool``)."""

    labels: tuple[tuple[str, str], ...]   # extra labels on every metric (e.g. shard)

    def select(self, config: PoolConfig) -> PoolConfig:
        """The part of ``config`` this instance runs now."""

    def poll(self) -> bool:
        """Called every tick; True when ``select`` would now answer differently."""

    def close(self) -> None:
        """Called once the workers stopped (release what the instance holds)."""


@dataclass(frozen=True)
class PoolOptions:
    """Where the pool's config comes from and which part of it this instance runs."""

    config_path: str | None = None      # re-read on SIGHUP (None: reload disabled)
    assignment: Assignment | None = None  # None: run every camera of the config


def pool_arbiter(config: PoolConfig, options: PoolOptions | None = None,
                 run: RunOptions | None = None) -> Arbiter:
    """The supervisor of the pool ``config`` describes."""
    return Arbiter(PoolRuntime(config, options), run)


class PoolRuntime:
    """The resources of one pool instance, behind the supervisor's ``PoolHooks``."""

    preload = SHARED_PRELOAD

    def __init__(self, config: PoolConfig, options: PoolOptions | None = None) -> None:
        self.options = options or PoolOptions()
        self.source_config = config         # the whole config; self.config: this instance's part
        self.config = self._select(config)
        self.name = self.pool = self.config.pool.name
        self.state_dir = str(self.config.pool.state_dir)
        self.stats_dir: str | None = os.path.join(self.state_dir, "stats")
        self.rings = RingSet(self.pool)
        self.heartbeats = HeartbeatRules(self.rings)
        self.metrics: MetricsServer | None = None
        self.emulator = EmbeddedEmulator(self.config.emulator)
        self._views: tuple[WorkerView, ...] = ()
        self._started = False  # set once this process owns the pool's rings
        self._stopped = False  # every worker ended and the rings are gone (state file says so)
        self._started_wall = time.time()
        self._state_due = 0.0
        self._state_failing = False

    @property
    def shutdown_timeout_s(self) -> float:
        return self.config.pool.shutdown_timeout_s

    # -- PoolView (read by the metrics thread) -------------------------------------------------
    def workers(self) -> tuple[WorkerView, ...]:
        return self._views

    def camera_ids(self) -> list[str]:
        """The configured cameras, not the started ones: /healthz must not say healthy while
        a camera has no decoder yet (the endpoint starts before the workers)."""
        return list(self.config.camera_ids)

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return self.rings.status(camera_id)

    # -- PoolHooks -------------------------------------------------------------------------------
    def start(self) -> Specs:
        """Sweep stale rings, create every ring, start emulator and metrics."""
        for name in sweep_stale(self.pool):
            log.warning("removed ring %s left by a killed run of pool %s", name, self.pool)
        for camera in self.config.cameras:  # fail now if the pool already runs or shm is full
            self.rings.ensure(camera)
        self._started = True
        for key, reason in exposure_warnings(self.config):
            log.warning("%s:%s: %s", self.options.config_path or "config", key, reason)
        os.makedirs(self.stats_dir or self.state_dir, exist_ok=True)
        self.emulator.start()
        self.start_metrics()
        return specs_from_config(self.config)

    def start_metrics(self) -> None:
        settings = self.config.pool.metrics
        if settings.enabled:
            from kvs_pool.web import web_app  # the status page and API on the same port
            labels = dict(self.options.assignment.labels) if self.options.assignment else None
            self.metrics = MetricsServer(self, settings.host, settings.port, labels,
                                         web_app(self, self.config))
            self.metrics.start()

    def stop(self) -> None:
        """Unlink the rings, release the assignment, stop metrics and emulator; final state."""
        self.rings.unlink_all()
        if self.options.assignment is not None:
            self.options.assignment.close()
        if self.metrics is not None:
            self.metrics.stop()
        self.emulator.stop()
        if self._started:  # never overwrite the state file of a pool run by another process
            self._stopped = True
            self.write_state()
            log.info("pool %s stopped", self.pool)

    def poll(self) -> Specs | None:
        """Follow the assignment: the new specs when it changed."""
        if self.options.assignment is not None and self.options.assignment.poll():
            self.config = self._select(self.source_config)
            return specs_from_config(self.config)
        return None

    def reload(self) -> Specs | None:
        """SIGHUP: re-read the config; the new specs, or None when refused."""
        path = self.options.config_path
        if path is None:
            log.warning("SIGHUP ignored: the pool was not started from a config file")
            return None
        try:
            config = load_config(path)
            selected = self._select(config)
        except KvsPoolError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            return None
        if selected.pool.name != self.pool:
            log.error("reload refused: the pool name cannot change (%s -> %s); restart the "
                      "service instead", self.pool, selected.pool.name)
            return None
        log.info("reloading %s", path)
        self.source_config, self.config = config, selected
        return specs_from_config(selected)

    def prepare(self, spec: WorkerSpec) -> None:
        """A decoder's ring exists before it starts (re-created if it was dropped)."""
        if spec.kind == "decoder" and spec.camera_id:
            self.rings.ensure(self.config.camera(spec.camera_id))

    def removed(self, spec: WorkerSpec) -> None:
        """A removed camera's ring goes with its decoder."""
        if spec.kind == "decoder" and spec.camera_id:
            self.rings.drop(spec.camera_id)

    def heartbeat(self, spec: WorkerSpec, pid: int, started: float) -> float:
        return self.heartbeats.last(spec, pid, started)

    def report(self, workers: Sequence[WorkerView], force: bool, stopped: bool) -> None:
        """Keep the table for metrics; rewrite the state file about once a second (the final
        one is written by ``stop``, once the rings are gone)."""
        self._views = tuple(workers)
        now = time.monotonic()
        if stopped or not (force or now >= self._state_due):
            return
        self._state_due = now + _STATE_EVERY_S
        self.write_state()

    def write_state(self) -> None:
        extra = {"metrics_url": self.metrics.url if self.metrics else None,
                 "config": self.options.config_path, "started": self._started_wall,
                 "stopped": self._stopped}
        try:
            write_state(self.state_dir, self.pool, self._views, extra)
            self._state_failing = False
        except OSError as exc:
            if not self._state_failing:  # once per outage, not every second
                log.warning("cannot write the state file in %s: %s (kvs-pool status will "
                            "lack restarts)", self.state_dir, exc)
            self._state_failing = True

    def _select(self, config: PoolConfig) -> PoolConfig:
        assignment = self.options.assignment
        return assignment.select(config) if assignment else config
