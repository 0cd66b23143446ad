"""The generic supervisor driven through ``PoolHooks`` alone (no config, ring or metrics): the
hooks give the specs at start, on SIGHUP and when polled; a spawn waits for ``prepare`` (a
failing one backs off); a removed worker is handed back to ``removed``; ``heartbeat`` decides
hangs; ``report`` sees the table and a final ``stopped`` one before ``stop``."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator, Sequence

import fake_workers
import pytest
from polling import wait_for

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.errors import KvsPoolError
from kvs_pool.supervisor import Arbiter, RunOptions, WorkerSpec
from kvs_pool.supervisor.child import ChildArgs, ChildHandle, set_title
from kvs_pool.supervisor.hooks import Specs
from kvs_pool.supervisor.signals import SignalQueue
from kvs_pool.supervisor.slot import Retirement
from kvs_pool.supervisor.view import WorkerView

POLICY = BackoffPolicy(initial_s=0.2, max_s=30, reset_after_s=60)


def _spec(name: str, fingerprint: str = "v1", **fields: object) -> WorkerSpec:
    return WorkerSpec(name=name, kind="test", entry=fake_workers.obedient, payload=None,
                      fingerprint=fingerprint, backoff=POLICY, **fields)


class FakeHooks:
    """Hooks that record every call; the test sets what they answer."""

    preload: tuple[str, ...] = ()
    shutdown_timeout_s = 5.0

    def __init__(self, name: str, specs: Specs) -> None:
        self.name = name
        self.specs = dict(specs)
        self.next_specs: Specs | None = None     # answer of reload() and poll()
        self.beat: float | None = None           # None: "now"
        self.refuse_prepare = False
        self.calls: list[str] = []
        self.reports: list[tuple[tuple[WorkerView, ...], bool, bool]] = []

    def start(self) -> Specs:
        self.calls.append("start")
        return self.specs

    def stop(self) -> None:
        self.calls.append("stop")

    def reload(self) -> Specs | None:
        self.calls.append("reload")
        return self.next_specs

    def poll(self) -> Specs | None:
        specs, self.next_specs = self.next_specs, None
        return specs

    def prepare(self, spec: WorkerSpec) -> None:
        self.calls.append(f"prepare {spec.name}")
        if self.refuse_prepare:
            raise KvsPoolError(f"no room for {spec.name}")

    def removed(self, spec: WorkerSpec) -> None:
        self.calls.append(f"removed {spec.name}")

    def heartbeat(self, spec: WorkerSpec, pid: int, started: float) -> float:
        return time.monotonic() if self.beat is None else self.beat

    def report(self, workers: Sequence[WorkerView], force: bool, stopped: bool) -> None:
        self.reports.append((tuple(workers), force, stopped))


@pytest.fixture
def arbiter(pool_name: str) -> Iterator[Arbiter]:
    signals = SignalQueue()
    arb = Arbiter(FakeHooks(pool_name, {"a": _spec("a")}), RunOptions(kill_grace_s=0.5,
                                                                      tick_s=0.05), signals)
    try:
        yield arb
    finally:
        arb.stop()


def _hooks(arb: Arbiter) -> FakeHooks:
    assert isinstance(arb.hooks, FakeHooks)
    return arb.hooks


def _tick_until(arb: Arbiter, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        arb.tick()


def test_start_runs_the_hooks_specs_and_stop_reports_a_final_table(arbiter: Arbiter) -> None:
    hooks = _hooks(arbiter)
    arbiter.start()
    assert hooks.calls == ["start", "prepare a"] and arbiter.slots["a"].up
    assert hooks.reports[-1][1] is True and [v.name for v in arbiter.workers()] == ["a"]
    arbiter.handle_signal(signal.SIGTERM)
    assert arbiter.stopping
    arbiter.tick()  # stopping: the loop does nothing more
    arbiter.stop()
    assert hooks.calls[-1] == "stop"
    workers, force, stopped = hooks.reports[-1]
    assert force and stopped and not workers[0].up


def test_sighup_follows_the_specs_of_reload(arbiter: Arbiter) -> None:
    hooks = _hooks(arbiter)
    arbiter.start()
    first = arbiter.slots["a"].handle.pid
    hooks.next_specs = {"a": _spec("a", "v2"), "b": _spec("b")}
    arbiter.handle_signal(signal.SIGHUP)
    _tick_until(arbiter, lambda: all(s.up for s in arbiter.slots.values())
                and arbiter.slots["a"].handle.pid != first)
    assert sorted(arbiter.slots) == ["a", "b"] and arbiter.slots["a"].config_restarts == 1
    hooks.next_specs = None
    arbiter.handle_signal(signal.SIGHUP)  # refused: nothing changes
    assert "reload" in hooks.calls and sorted(arbiter.slots) == ["a", "b"]


def test_a_worker_dropped_by_poll_is_removed_through_the_hooks(arbiter: Arbiter) -> None:
    hooks = _hooks(arbiter)
    arbiter.start()
    hooks.next_specs = {}
    _tick_until(arbiter, lambda: not arbiter.slots)
    assert "removed a" in hooks.calls


def test_a_refused_prepare_postpones_the_spawn_with_backoff(arbiter: Arbiter) -> None:
    hooks = _hooks(arbiter)
    hooks.refuse_prepare = True
    arbiter.start()
    slot = arbiter.slots["a"]
    assert slot.handle is None and slot.restart_at is not None
    hooks.refuse_prepare = False
    _tick_until(arbiter, lambda: slot.up)


def test_a_worker_whose_hooks_heartbeat_is_stale_is_replaced(arbiter: Arbiter, caplog) -> None:
    hooks = _hooks(arbiter)
    hooks.specs = {"a": _spec("a", heartbeat_timeout_s=0.3)}
    arbiter.start()
    slot = arbiter.slots["a"]
    hooks.beat = slot.started + 0.01  # one beat, then silence
    with caplog.at_level("WARNING", logger="kvs_pool.supervisor.arbiter"):
        _tick_until(arbiter, lambda: slot.restarts == 1)
    assert "a stopped cleanly (exit 0) after" in caplog.text and "(hung)" in caplog.text


def test_run_loops_until_sigterm_then_stops_the_pool(arbiter: Arbiter) -> None:
    hooks = _hooks(arbiter)
    os.kill(os.getpid(), signal.SIGTERM)  # queued by the arbiter's SignalQueue, read at the tick
    assert arbiter.run() == 0
    assert hooks.calls[0] == "start" and hooks.calls[-1] == "stop"
    assert hooks.reports[-1][2] is True


@pytest.mark.parametrize("next_spec", [None, "v2"])
def test_a_worker_waiting_for_its_restart_is_removed_or_replaced_at_once(
        arbiter: Arbiter, next_spec: str | None) -> None:
    hooks = _hooks(arbiter)
    hooks.refuse_prepare = True
    arbiter.start()
    assert arbiter.slots["a"].handle is None
    hooks.next_specs = {"a": _spec("a", next_spec)} if next_spec else {}
    arbiter.tick()
    if next_spec:
        assert arbiter.slots["a"].spec.fingerprint == "v2"
    else:
        assert not arbiter.slots and "removed a" in hooks.calls


def test_a_removed_worker_that_ignores_sigterm_is_killed_after_the_grace(
        arbiter: Arbiter, tmp_path, caplog) -> None:
    hooks = _hooks(arbiter)
    ready = tmp_path / "ignoring"
    hooks.specs = {"a": dataclasses.replace(_spec("a"), entry=fake_workers.stubborn,
                                            payload=str(ready))}
    arbiter.start()
    wait_for(ready.exists, what="the worker to ignore SIGTERM")
    hooks.next_specs = {}
    with caplog.at_level("WARNING", logger="kvs_pool.supervisor.arbiter"):
        _tick_until(arbiter, lambda: not arbiter.slots)
    assert "did not stop within 0.5 s of SIGTERM: SIGKILL" in caplog.text
    assert "removed a" in hooks.calls


def test_the_stall_check_leaves_an_exited_worker_to_the_reaper(arbiter: Arbiter) -> None:
    hooks = _hooks(arbiter)
    hooks.specs = {"a": dataclasses.replace(_spec("a"), entry=fake_workers.exit_with, payload=0)}
    hooks.beat = 0.0  # never beats: it would be hung if it still ran
    arbiter.start()
    slot = arbiter.slots["a"]
    wait_for(lambda: slot.handle.poll() is not None, what="the worker to exit")
    arbiter.check_stalls()
    assert slot.retiring is None


def test_a_handle_on_a_process_that_is_not_ours(arbiter: Arbiter) -> None:
    args = ChildArgs(name="x", entry=fake_workers.obedient, payload=None, parent_pid=1)
    assert ChildHandle(args, 1).poll() == 255  # init is not our child: reported, not raised
    gone = ChildHandle(args, 4194304 + 1)  # above any pid_max: no such process
    gone.terminate()
    assert gone._code is None
    set_title("")  # an empty title changes nothing


def test_a_hung_worker_removed_meanwhile_gets_one_sigterm_then_sigkill(
        arbiter: Arbiter, tmp_path, caplog) -> None:
    hooks = _hooks(arbiter)
    ready = tmp_path / "ignoring"
    hooks.specs = {"a": dataclasses.replace(_spec("a", heartbeat_timeout_s=0.2),
                                            entry=fake_workers.stubborn, payload=str(ready))}
    hooks.beat = 0.0
    arbiter.start()
    slot = arbiter.slots["a"]
    wait_for(ready.exists, what="the worker to ignore SIGTERM")
    _tick_until(arbiter, lambda: slot.retiring is Retirement.STALL)
    deadline = slot.kill_at
    hooks.next_specs = {}
    with caplog.at_level("WARNING", logger="kvs_pool.supervisor.arbiter"):
        arbiter.tick()  # removed while being stopped: the SIGKILL deadline stands
        assert slot.retiring is Retirement.REMOVE  # the deadline stands (inf: already SIGKILLed)
        assert slot.kill_at in (deadline, float("inf"))
        _tick_until(arbiter, lambda: not arbiter.slots)
    assert "SIGKILL" in caplog.text and "removed a" in hooks.calls


def test_specs_arriving_while_a_worker_stops_change_only_what_follows_it(
        arbiter: Arbiter, tmp_path) -> None:
    """New specs while a worker is still stopping for an earlier change: the same change again
    does nothing (one SIGTERM, the same SIGKILL deadline); a different one changes what follows
    the worker (here: removed, then back with a new config before it exited)."""
    hooks = _hooks(arbiter)
    ready = tmp_path / "ignoring"
    hooks.specs = {"a": dataclasses.replace(_spec("a"), entry=fake_workers.stubborn,
                                            payload=str(ready))}
    arbiter.start()
    slot = arbiter.slots["a"]
    wait_for(ready.exists, what="the worker to ignore SIGTERM")
    arbiter.follow({})
    deadline = slot.kill_at
    assert slot.retiring is Retirement.REMOVE and deadline is not None
    arbiter.follow({})
    assert (slot.retiring, slot.kill_at) == (Retirement.REMOVE, deadline)
    back = _spec("a", "v2")
    for _ in range(2):
        arbiter.follow({"a": back})
        assert (slot.retiring, slot.next_spec, slot.kill_at) == (Retirement.REPLACE, back,
                                                                 deadline)
    _tick_until(arbiter, lambda: arbiter.slots["a"].spec == back and arbiter.slots["a"].up)
    assert "removed a" not in hooks.calls and arbiter.slots["a"].config_restarts == 1
