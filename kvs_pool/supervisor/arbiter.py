"""The arbiter: the supervisor's main loop (gunicorn's arbiter, with per-worker backoff).

Signal handlers only enqueue (``SignalQueue``); the loop sleeps on the wake-up pipe with a short
timeout and then, in order: handles queued signals (SIGTERM/SIGINT stop, SIGHUP reload), reaps
exited workers, follows the pool's new specs, SIGKILLs workers that ignored a SIGTERM past
their grace, checks heartbeats (a hung worker gets SIGTERM, then SIGKILL), spawns workers whose
restart is due, reports the worker table and pings the systemd watchdog. Everything around the
workers (rings, emulator, metrics, state file, config, heartbeat rules) is behind ``PoolHooks``.
Workers are forked from pre-loaded template processes (``template``) and adopted by the
supervisor, which reaps them. One failing worker only ever affects its own slot: the pool never
stops because a camera crash-loops.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

from kvs_pool.errors import KvsPoolError
from kvs_pool.supervisor import sdnotify
from kvs_pool.supervisor.child import ChildArgs, set_title
from kvs_pool.supervisor.exits import describe_exit
from kvs_pool.supervisor.hooks import PoolHooks, Specs
from kvs_pool.supervisor.signals import SignalQueue
from kvs_pool.supervisor.slot import Retirement, WorkerSlot
from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.supervisor.template import Templates
from kvs_pool.supervisor.view import WorkerView

__all__ = ["Arbiter", "RunOptions"]

log = logging.getLogger(__name__)

_CRASH_LOOP = 3          # consecutive failures from which a worker is reported crash-looping


@dataclass(frozen=True)
class RunOptions:
    """How the pool runs, beside its config."""

    log_level: str = "info"
    log_format: str = "text"
    tick_s: float = 0.25                # longest sleep of the main loop
    kill_grace_s: float = 5.0           # SIGTERM -> SIGKILL for a hung or retiring worker


class Arbiter:
    """Runs the workers of one pool, whose resources are behind ``hooks``."""

    def __init__(self, hooks: PoolHooks, options: RunOptions | None = None,
                 signals: SignalQueue | None = None) -> None:
        """``signals``: a queue to read instead of installing handlers (tests)."""
        self.options = options or RunOptions()
        self.hooks = hooks
        self.pool = hooks.name
        self.slots: dict[str, WorkerSlot] = {}
        self.templates = Templates(self.pool, hooks.preload)
        self._views: tuple[WorkerView, ...] = ()
        self._signals = signals
        self._stopping = False
        self._watchdog_due = 0.0

    @property
    def stopping(self) -> bool:
        """True once a stop was asked (SIGTERM/SIGINT or ``stop``)."""
        return self._stopping

    def workers(self) -> tuple[WorkerView, ...]:
        """The worker table as of the last tick."""
        return self._views

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
        """Start the pool's resources and templates, spawn every worker, notify READY."""
        if self._signals is None:
            self._signals = SignalQueue()
        set_title(f"kvs-pool[{self.pool}]: supervisor")
        specs = self.hooks.start()
        self.templates.start()
        self.apply(specs)
        self.restart_due()
        self.report_workers(force=True)
        sdnotify.ready(f"pool {self.pool}: {len(self.slots)} workers")
        log.info("pool %s running: %d workers (pid %d)", self.pool, len(self.slots), os.getpid())

    def tick(self) -> None:
        """One pass of the main loop."""
        assert self._signals is not None
        for signum in self._signals.wait(self.options.tick_s):
            self.handle_signal(signum)
        if self._stopping:
            return
        self.reap_workers()
        self.follow(self.hooks.poll())
        self.murder_workers()
        self.check_stalls()
        self.restart_due()
        self.report_workers()
        self.ping_watchdog()

    def handle_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            log.info("%s received: stopping the pool", signal.Signals(signum).name)
            self._stopping = True
        elif signum == signal.SIGHUP:
            self.follow(self.hooks.reload())

    # -- workers ---------------------------------------------------------------------------------
    def apply(self, specs: Specs) -> None:
        """Make the worker table match ``specs``: add, retire or replace slots."""
        for name, slot in list(self.slots.items()):
            new = specs.get(name)
            if new == slot.spec_after_retirement():
                continue
            if new is None:
                log.info("%s: removed from the config, stopping it", name)
                self.retire(slot, Retirement.REMOVE)
            else:
                log.info("%s: config changed, restarting it", name)
                self.retire(slot, Retirement.REPLACE, new)
        for name, spec in specs.items():
            if name not in self.slots:
                log.info("%s: new worker", name)
                self.slots[name] = WorkerSlot(spec)

    def spawn_worker(self, slot: WorkerSlot) -> None:
        """Start the slot's process (creating the camera's ring first if needed)."""
        spec, now = slot.spec, time.monotonic()
        try:
            self.hooks.prepare(spec)
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
        assert handle is not None  # only reaped slots end here
        handle.close()
        now = time.monotonic()
        uptime = now - slot.started
        slot.last_exit = describe_exit(code, killed_by_us=slot.kill_at is not None)
        slot.kill_at = None
        why, slot.retiring = slot.retiring, None
        if self._stopping:
            log.info("%s %s", slot.spec.name, slot.last_exit)
        elif why in (Retirement.REMOVE, Retirement.REPLACE):
            log.info("%s %s (%s)", slot.spec.name, slot.last_exit, why.value)
            self.finish_retirement(slot, why, now)
        else:
            delay = slot.plan_restart(code, now)
            looping = (f"; crash-looping ({slot.backoff.failures} failures in a row)"
                       if slot.backoff.failures >= _CRASH_LOOP else "")
            log.warning("%s %s after %.1f s%s; restart in %.1f s%s", slot.spec.name,
                        slot.last_exit, uptime, " (hung)" if why is Retirement.STALL else "", delay,
                        looping)

    def finish_retirement(self, slot: WorkerSlot, why: Retirement, now: float) -> None:
        """After a stopped worker exited: drop its slot (and ring) or start its new spec."""
        if why is Retirement.REMOVE:
            del self.slots[slot.spec.name]
            self.hooks.removed(slot.spec)
            return
        assert slot.next_spec is not None
        self.slots[slot.spec.name] = slot.replaced_by(slot.next_spec, now)

    def retire(self, slot: WorkerSlot, why: Retirement,
               next_spec: WorkerSpec | None = None) -> None:
        """Stop a worker on purpose (removed, replaced, hung): SIGTERM now, SIGKILL later."""
        slot.retiring, slot.next_spec = why, next_spec
        if slot.handle is None:  # not running (waiting for a restart): act at once
            assert why is not Retirement.STALL  # only a running worker can hang
            slot.retiring = None
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
            beat = self.hooks.heartbeat(slot.spec, slot.handle.pid, slot.started)
            limit = slot.spec.heartbeat_timeout_s
            if beat <= slot.started:  # no heartbeat yet from this process: startup grace
                beat, limit = slot.started, max(limit, slot.spec.startup_grace_s)
            if now - beat > limit:
                log.warning("%s (pid %d) hung: no heartbeat for %.1f s (limit %.1f s); "
                            "SIGTERM, then SIGKILL in %.1f s", slot.spec.name, slot.handle.pid,
                            now - beat, limit, self.options.kill_grace_s)
                self.retire(slot, Retirement.STALL)

    def restart_due(self) -> None:
        """Spawn every worker whose (re)start time has come."""
        now = time.monotonic()
        for slot in list(self.slots.values()):
            if slot.handle is None and slot.restart_at is not None and now >= slot.restart_at:
                self.spawn_worker(slot)

    def follow(self, specs: Specs | None) -> None:
        """Run ``specs`` from now on (None: no change): stop, replace and start workers."""
        if specs is not None:
            self.apply(specs)
            self.restart_due()

    # -- report, stop ----------------------------------------------------------------------------
    def report_workers(self, force: bool = False, stopped: bool = False) -> None:
        """Snapshot the worker table and hand it to the pool (metrics, state file)."""
        now = time.monotonic()
        self._views = tuple(slot.view(now) for slot in self.slots.values())
        self.hooks.report(self._views, force, stopped)

    def ping_watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        now = time.monotonic()
        if interval and now >= self._watchdog_due:
            sdnotify.watchdog()
            self._watchdog_due = now + interval / 2

    def stop(self) -> None:
        """Stop every worker within the shutdown bound (then SIGKILL), then the pool's resources."""
        self._stopping = True
        sdnotify.stopping(f"pool {self.pool} stopping")
        self.stop_workers(self.hooks.shutdown_timeout_s)
        self.templates.stop()
        if self._signals is not None:
            self._signals.close()
            self._signals = None
        self.report_workers(force=True, stopped=True)
        self.hooks.stop()

    def stop_workers(self, timeout: float) -> None:
        """SIGTERM workers (``stop_last`` ones after the others: decoders after their readers),
        wait up to ``timeout``, SIGKILL the rest."""
        running = sorted(((s, s.handle) for s in self.slots.values() if s.handle is not None),
                         key=lambda pair: pair[0].spec.stop_last)
        for _, handle in running:
            handle.terminate()
        deadline = time.monotonic() + timeout
        while any(s.handle for s, _ in running) and time.monotonic() < deadline:
            time.sleep(0.05)
            self.reap_workers()
        for slot, _ in running:
            if slot.handle:
                log.warning("%s did not stop within %.1f s: SIGKILL", slot.spec.name, timeout)
                slot.kill_at = float("inf")
                slot.handle.kill()
        deadline = time.monotonic() + 5.0
        while any(s.handle for s, _ in running) and time.monotonic() < deadline:
            time.sleep(0.05)
            self.reap_workers()
