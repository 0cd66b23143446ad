"""The arbiter: the supervisor's main loop (gunicorn's arbiter, with per-worker backoff).

Signal handlers only enqueue (``SignalQueue``); the loop sleeps on the wake-up pipe with a short
timeout and then, in order: handles queued signals (SIGTERM/SIGINT stop, SIGHUP reload), reaps
exited workers, SIGKILLs workers that ignored a SIGTERM past their grace, checks heartbeats
(a hung worker gets SIGTERM, then SIGKILL), spawns workers whose restart is due, publishes the
worker table (metrics, state file) and pings the systemd watchdog. Workers are forked from
pre-loaded template processes (``template``) and adopted by the supervisor, which reaps them.
One failing worker only ever affects its own slot: the pool never stops because a camera
crash-loops.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import Protocol

from kvs_pool.config import PoolConfig, load_config
from kvs_pool.errors import KvsPoolError
from kvs_pool.metrics import MetricsServer, WorkerView
from kvs_pool.ring import RingStatus, sweep_stale
from kvs_pool.telemetry_page import read_page
from kvs_pool.supervisor import sdnotify
from kvs_pool.supervisor.child import ChildArgs, set_title
from kvs_pool.supervisor.emulator import EmbeddedEmulator
from kvs_pool.supervisor.exits import describe_exit
from kvs_pool.supervisor.exposure import exposure_warnings
from kvs_pool.supervisor.rings import RingSet
from kvs_pool.supervisor.signals import SignalQueue
from kvs_pool.supervisor.slot import WorkerSlot
from kvs_pool.supervisor.specs import WorkerSpec, specs_from_config
from kvs_pool.supervisor.statefile import write_state
from kvs_pool.supervisor.template import Templates

__all__ = ["Arbiter", "RunOptions", "Assignment"]

log = logging.getLogger(__name__)

_CRASH_LOOP = 3          # consecutive failures from which a worker is reported crash-looping
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
class RunOptions:
    """How the pool runs, beside its config."""

    config_path: str | None = None      # re-read on SIGHUP (None: reload disabled)
    log_level: str = "info"
    log_format: str = "text"
    tick_s: float = 0.25                # longest sleep of the main loop
    kill_grace_s: float = 5.0           # SIGTERM -> SIGKILL for a hung or retiring worker
    assignment: Assignment | None = None  # None: run every camera of the config


class Arbiter:
    """Runs one pool: its rings, its workers, its metrics endpoint."""

    def __init__(self, config: PoolConfig, options: RunOptions | None = None) -> None:
        self.options = options or RunOptions()
        self.source_config = config         # the whole config; self.config: this instance's part
        config = self._select(config)
        self.config = config
        self.pool = config.pool.name
        self.state_dir = str(config.pool.state_dir)
        self.stats_dir: str | None = os.path.join(self.state_dir, "stats")
        self.rings = RingSet(self.pool)
        self.slots: dict[str, WorkerSlot] = {}
        self.metrics: MetricsServer | None = None
        self.emulator = EmbeddedEmulator(config.emulator)
        self.templates = Templates(self.pool)
        self._views: tuple[WorkerView, ...] = ()
        self._signals: SignalQueue | None = None
        self._stopping = False
        self._stopped = False  # every worker ended and the rings are gone (state file says so)
        self._started = False  # set once this process owns the pool's rings
        self._started_wall = time.time()
        self._state_due = 0.0
        self._state_failing = False
        self._watchdog_due = 0.0

    # -- PoolView (read by the metrics thread) -------------------------------------------------
    def workers(self) -> tuple[WorkerView, ...]:
        return self._views

    def camera_ids(self) -> list[str]:
        """The configured cameras, not the started ones: /healthz must not say healthy while
        a camera has no decoder yet (the endpoint starts before the workers)."""
        return list(self.config.camera_ids)

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return self.rings.status(camera_id)

    # -- lifecycle -------------------------------------------------------------------------------
    def run(self) -> int:
        """Start, loop until SIGTERM/SIGINT, stop; returns the exit code (0)."""
        try:
            self.start()
            while not self._stopping:
                self.tick()
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        """Sweep stale rings, start emulator and metrics, spawn every worker, notify READY."""
        self._signals = SignalQueue()
        set_title(f"kvs-pool[{self.pool}]: supervisor")
        for name in sweep_stale(self.pool):
            log.warning("removed ring %s left by a killed run of pool %s", name, self.pool)
        for camera in self.config.cameras:  # fail now if the pool already runs or shm is full
            self.rings.ensure(camera)
        self._started = True
        for key, reason in exposure_warnings(self.config):
            log.warning("%s:%s: %s", self.options.config_path or "config", key, reason)
        os.makedirs(self.stats_dir or self.state_dir, exist_ok=True)
        self.templates.start()
        self.emulator.start()
        self.start_metrics()
        self.apply(specs_from_config(self.config))
        self.restart_due()
        self.publish(force=True)
        sdnotify.ready(f"pool {self.pool}: {len(self.slots)} workers")
        log.info("pool %s running: %d workers (pid %d)", self.pool, len(self.slots), os.getpid())

    def start_metrics(self) -> None:
        settings = self.config.pool.metrics
        if settings.enabled:
            from kvs_pool.web import web_app  # the status page and API on the same port
            labels = dict(self.options.assignment.labels) if self.options.assignment else None
            self.metrics = MetricsServer(self, settings.host, settings.port, labels,
                                         web_app(self, self.config))
            self.metrics.start()

    def tick(self) -> None:
        """One pass of the main loop."""
        assert self._signals is not None
        for signum in self._signals.wait(self.options.tick_s):
            self.handle_signal(signum)
        if self._stopping:
            return
        self.reap_workers()
        self.reassign()
        self.murder_workers()
        self.check_stalls()
        self.restart_due()
        self.publish()
        self.ping_watchdog()

    def handle_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            log.info("%s received: stopping the pool", signal.Signals(signum).name)
            self._stopping = True
        elif signum == signal.SIGHUP:
            self.reload()

    # -- workers ---------------------------------------------------------------------------------
    def apply(self, specs: dict[str, WorkerSpec]) -> None:
        """Make the worker table match ``specs``: add, retire or replace slots."""
        for name, slot in list(self.slots.items()):
            new = specs.get(name)
            target = {"remove": None, "replace": slot.next_spec}.get(slot.retiring or "", slot.spec)
            if new == target:
                continue
            if new is None:
                log.info("%s: removed from the config, stopping it", name)
                self.retire(slot, "remove")
            else:
                log.info("%s: config changed, restarting it", name)
                self.retire(slot, "replace", new)
        for name, spec in specs.items():
            if name not in self.slots:
                log.info("%s: new worker", name)
                self.slots[name] = WorkerSlot(spec)

    def spawn_worker(self, slot: WorkerSlot) -> None:
        """Start the slot's process (creating the camera's ring first if needed)."""
        spec, now = slot.spec, time.monotonic()
        try:
            if spec.kind == "decoder":
                self.rings.ensure(self.config.camera(spec.camera_id))
            handle = self.templates.spawn(self._child_args(spec), spec.preload)
            pid = handle.pid
        except (KvsPoolError, OSError) as exc:
            slot.started = now
            delay = slot.plan_restart(None, now)
            log.error("%s: cannot start: %s; retry in %.1f s", spec.name, exc, delay)
            return
        slot.handle, slot.started, slot.restart_at = handle, now, None
        slot.spawns += 1
        log.info("%s: started, pid %d%s", spec.name, pid, self._spawn_reason(slot))
        slot.after_reload = False

    @staticmethod
    def _spawn_reason(slot: WorkerSlot) -> str:
        if slot.after_reload:
            return f" (config change {slot.config_restarts})"
        return f" (restart {slot.restarts})" if slot.restarts else ""

    def _child_args(self, spec: WorkerSpec) -> ChildArgs:
        return ChildArgs(name=spec.name, entry=spec.entry, payload=spec.payload,
                         parent_pid=os.getpid(), log_level=self.options.log_level,
                         log_format=self.options.log_format, camera_id=spec.camera_id,
                         env=dict(spec.env), title=self._title(spec))

    def _title(self, spec: WorkerSpec) -> str:
        """The worker's process title, e.g. ``kvs-pool[site1]: decoder front-door``."""
        return f"kvs-pool[{self.pool}]: {spec.kind} {spec.name.removeprefix(spec.kind + '-')}"

    def reap_workers(self) -> None:
        """Collect the exit status of every worker that ended (and of a dead template)."""
        for slot in list(self.slots.values()):
            code = slot.handle.poll() if slot.handle else None
            if code is not None:
                self.on_exit(slot, code)
        self.templates.reap()

    def on_exit(self, slot: WorkerSlot, code: int) -> None:
        """A worker ended: log why, then remove, replace or schedule its restart."""
        handle, slot.handle = slot.handle, None
        if handle is not None:
            handle.close()
        now = time.monotonic()
        uptime = now - slot.started
        slot.last_exit = describe_exit(code, killed_by_us=slot.kill_at is not None)
        slot.kill_at = None
        why, slot.retiring = slot.retiring, None
        if self._stopping:
            log.info("%s %s", slot.spec.name, slot.last_exit)
        elif why in ("remove", "replace"):
            log.info("%s %s (%s)", slot.spec.name, slot.last_exit, why)
            self.finish_retirement(slot, why, now)
        else:
            delay = slot.plan_restart(code, now)
            looping = (f"; crash-looping ({slot.backoff.failures} failures in a row)"
                       if slot.backoff.failures >= _CRASH_LOOP else "")
            log.warning("%s %s after %.1f s%s; restart in %.1f s%s", slot.spec.name,
                        slot.last_exit, uptime, " (hung)" if why == "stall" else "", delay,
                        looping)

    def finish_retirement(self, slot: WorkerSlot, why: str, now: float) -> None:
        """After a stopped worker exited: drop its slot (and ring) or start its new spec."""
        if why == "remove":
            del self.slots[slot.spec.name]
            if slot.spec.kind == "decoder" and slot.spec.camera_id:
                self.rings.drop(slot.spec.camera_id)
            return
        assert slot.next_spec is not None
        self.slots[slot.spec.name] = slot.replaced_by(slot.next_spec, now)

    def retire(self, slot: WorkerSlot, why: str, next_spec: WorkerSpec | None = None) -> None:
        """Stop a worker on purpose (removed, replaced, hung): SIGTERM now, SIGKILL later."""
        slot.retiring, slot.next_spec = why, next_spec
        if slot.handle is None:  # not running (waiting for a restart): act at once
            slot.retiring = None
            if why in ("remove", "replace"):
                self.finish_retirement(slot, why, time.monotonic())
            return
        if slot.kill_at is None:
            slot.handle.terminate()
            slot.kill_at = time.monotonic() + self.options.kill_grace_s

    def murder_workers(self) -> None:
        """SIGKILL workers still alive past the grace after our SIGTERM."""
        now = time.monotonic()
        for slot in self.slots.values():
            if slot.handle and slot.kill_at is not None and now >= slot.kill_at:
                log.warning("%s did not stop within %.1f s of SIGTERM: SIGKILL", slot.spec.name,
                            self.options.kill_grace_s)
                slot.handle.kill()
                slot.kill_at = float("inf")

    def check_stalls(self) -> None:
        """A worker whose heartbeat is older than its timeout is hung: stop and replace it."""
        now = time.monotonic()
        for slot in self.slots.values():
            if slot.handle is None or slot.retiring is not None:
                continue
            if slot.handle.poll() is not None:  # it exited on its own: the reaper says why
                continue
            beat = self.last_heartbeat(slot, now)
            limit = slot.spec.heartbeat_timeout_s
            if beat <= slot.started:  # no heartbeat yet from this process: startup grace
                beat, limit = slot.started, max(limit, slot.spec.startup_grace_s)
            if now - beat > limit:
                log.warning("%s (pid %d) hung: no heartbeat for %.1f s (limit %.1f s); "
                            "SIGTERM, then SIGKILL in %.1f s", slot.spec.name, slot.handle.pid,
                            now - beat, limit, self.options.kill_grace_s)
                self.retire(slot, "stall")

    def last_heartbeat(self, slot: WorkerSlot, now: float) -> float:
        """Monotonic time the worker last proved progress (0: never)."""
        if slot.spec.kind == "decoder" and slot.spec.camera_id and slot.handle:
            return self._ring_heartbeat(slot)
        try:  # other workers: the CLOCK_MONOTONIC stamp of their telemetry page (not a file's
            # mtime: a wall-clock step would make the worker look hung or alive)
            doc = read_page(self.pool, slot.spec.name)
        except RingError as exc:
            log.warning("%s: %s", slot.spec.name, exc)
            return 0.0
        return float(doc["updated_mono"]) if doc else 0.0

    def _ring_heartbeat(self, slot: WorkerSlot) -> float:
        """A decoder's last beat from its ring header (0: none from this process).

        A decoder detaches on its way out: the producer pid is cleared, the heartbeat stays.
        A beat newer than the spawn can only be this process's (the previous one was reaped
        before it started), so it stands until the process is reaped. Reading "cleared pid"
        as "never beat" used to judge a decoder that ran longer than its stall limit and then
        exited on its own as hung since its spawn: SIGTERM, wrong exit, no backoff.
        """
        assert slot.handle is not None and slot.spec.camera_id
        status = self.rings.status(slot.spec.camera_id)
        if status is None:
            return 0.0
        if status.producer_pid == slot.handle.pid:
            return status.heartbeat_mono
        if status.producer_pid == 0 and status.heartbeat_mono > slot.started:
            return status.heartbeat_mono
        return 0.0

    def restart_due(self) -> None:
        """Spawn every worker whose (re)start time has come."""
        now = time.monotonic()
        for slot in list(self.slots.values()):
            if slot.handle is None and slot.restart_at is not None and now >= slot.restart_at:
                self.spawn_worker(slot)

    def _select(self, config: PoolConfig) -> PoolConfig:
        assignment = self.options.assignment
        return assignment.select(config) if assignment else config

    def reassign(self) -> None:
        """Follow the assignment hook: start cameras gained, stop cameras lost."""
        if self.options.assignment is not None and self.options.assignment.poll():
            self.config = self._select(self.source_config)
            self.apply(specs_from_config(self.config))
            self.restart_due()

    # -- reload, publish, stop -------------------------------------------------------------------
    def reload(self) -> None:
        """SIGHUP: re-read the config; restart only what changed, add and remove workers."""
        path = self.options.config_path
        if path is None:
            log.warning("SIGHUP ignored: the pool was not started from a config file")
            return
        try:
            config = load_config(path)
            selected = self._select(config)
        except KvsPoolError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            return
        if selected.pool.name != self.pool:
            log.error("reload refused: the pool name cannot change (%s -> %s); restart the "
                      "service instead", self.pool, selected.pool.name)
            return
        log.info("reloading %s", path)
        self.source_config, self.config = config, selected
        self.apply(specs_from_config(selected))
        self.restart_due()

    def publish(self, force: bool = False) -> None:
        """Refresh the worker table seen by metrics; rewrite the state file about once a second."""
        now = time.monotonic()
        self._views = tuple(slot.view(now) for slot in self.slots.values())
        if force or now >= self._state_due:
            self._state_due = now + _STATE_EVERY_S
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

    def ping_watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        now = time.monotonic()
        if interval and now >= self._watchdog_due:
            sdnotify.watchdog()
            self._watchdog_due = now + interval / 2

    def stop(self) -> None:
        """Stop every worker within the shutdown bound (then SIGKILL), unlink rings, clean up."""
        self._stopping = True
        sdnotify.stopping(f"pool {self.pool} stopping")
        self.stop_workers(self.config.pool.shutdown_timeout_s)
        self.templates.stop()
        self.rings.unlink_all()
        if self.options.assignment is not None:
            self.options.assignment.close()
        if self.metrics is not None:
            self.metrics.stop()
        self.emulator.stop()
        if self._signals is not None:
            self._signals.close()
            self._signals = None
        if self._started:  # never overwrite the state file of a pool run by another process
            self._stopped = True
            self.publish(force=True)
            log.info("pool %s stopped", self.pool)

    def stop_workers(self, timeout: float) -> None:
        """SIGTERM consumers then decoders, wait up to ``timeout``, SIGKILL the rest."""
        running = sorted((s for s in self.slots.values() if s.handle),
                         key=lambda s: s.spec.kind == "decoder")
        for slot in running:
            slot.handle.terminate()
        deadline = time.monotonic() + timeout
        while any(s.handle for s in running) and time.monotonic() < deadline:
            time.sleep(0.05)
            self.reap_workers()
        for slot in running:
            if slot.handle:
                log.warning("%s did not stop within %.1f s: SIGKILL", slot.spec.name, timeout)
                slot.kill_at = float("inf")
                slot.handle.kill()
        deadline = time.monotonic() + 5.0
        while any(s.handle for s in running) and time.monotonic() < deadline:
            time.sleep(0.05)
            self.reap_workers()
