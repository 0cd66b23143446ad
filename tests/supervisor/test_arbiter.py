"""The arbiter's verbs with real spawned processes running tiny test workers: a worker that
ignores SIGTERM is SIGKILLed within the stop bound, a permanent failure waits the maximum
backoff, a worker that never heartbeats is replaced, a removed worker is stopped."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.config import parse_config
from kvs_pool.supervisor import Arbiter, RunOptions, WorkerSpec
from kvs_pool.supervisor.signals import SignalQueue
from kvs_pool.supervisor.slot import WorkerSlot
from kvs_pool.workers import EXIT_CONFIG

POLICY = BackoffPolicy(initial_s=0.2, max_s=30, reset_after_s=60)


@pytest.fixture
def arbiter(pool_name: str, tmp_path) -> Iterator[Arbiter]:
    config = parse_config(f"pool: {{name: {pool_name}, state_dir: {tmp_path}}}\n"
                          "cameras: [{id: c, source: {url: 'http://127.0.0.1:9/x'}}]\n")
    arb = Arbiter(config, RunOptions(kill_grace_s=0.5, tick_s=0.05))
    arb._signals = SignalQueue()
    try:
        yield arb
    finally:
        arb.stop_workers(0.5)
        arb.templates.stop()
        arb._signals.close()
        arb._signals = None
        arb.rings.unlink_all()


def _add(arb: Arbiter, name: str, entry: str, payload: object = None, **spec) -> WorkerSlot:
    slot = WorkerSlot(WorkerSpec(name=name, kind="test", entry=f"fake_workers:{entry}",
                                 payload=payload, backoff=POLICY, **spec))
    arb.slots[name] = slot
    return slot


def _tick_until(arb: Arbiter, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        arb.tick()


def test_stop_kills_a_worker_that_ignores_sigterm(arbiter: Arbiter, tmp_path) -> None:
    ready = tmp_path / "ignoring-sigterm"
    slot = _add(arbiter, "stubborn", "stubborn", str(ready), heartbeat_timeout_s=600)
    arbiter.restart_due()
    assert slot.up
    deadline = time.monotonic() + 60
    while not ready.exists():  # it has installed its SIG_IGN
        assert time.monotonic() < deadline, "the stubborn worker did not start"
        time.sleep(0.05)
    started = time.monotonic()
    arbiter._stopping = True
    arbiter.stop_workers(1.0)
    assert not slot.up and time.monotonic() - started < 30
    assert slot.last_exit == "killed by SIGKILL"  # ours: not blamed on memory


def test_permanent_failure_backs_off_to_the_maximum(arbiter: Arbiter) -> None:
    slot = _add(arbiter, "bad", "exit_with", EXIT_CONFIG, heartbeat_timeout_s=600)
    arbiter.restart_due()
    _tick_until(arbiter, lambda: not slot.up and slot.spawns == 1)
    assert "failed permanently" in slot.last_exit
    assert slot.restart_at - time.monotonic() > 0.8 * 30 - 5
    assert arbiter.workers()[0].backoff_s > 15


def test_worker_without_heartbeat_is_replaced_and_removed_worker_stopped(arbiter) -> None:
    slot = _add(arbiter, "silent", "obedient", heartbeat_timeout_s=2.0)
    arbiter.restart_due()
    first = slot.handle.pid
    _tick_until(arbiter, lambda: slot.spawns == 2 and slot.up)
    assert slot.handle.pid != first
    # SIGTERM honoured, or (machine busy) delivered before the worker installed its handler
    assert slot.last_exit in ("stopped cleanly (exit 0)", "killed by SIGTERM"), slot.last_exit
    arbiter.retire(slot, "remove")
    _tick_until(arbiter, lambda: "silent" not in arbiter.slots)
