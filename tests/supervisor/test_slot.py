"""Restart schedule of one worker slot: fast first restart, then backoff, reset after a stable
run, max delay for permanent failures; and the words for exit statuses."""

from __future__ import annotations

import random
import signal

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.supervisor.exits import describe_exit
from kvs_pool.supervisor.slot import WorkerSlot
from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.workers import EXIT_CONFIG, EXIT_GAVE_UP

POLICY = BackoffPolicy(initial_s=5, factor=2, max_s=60, jitter_low=0.8, jitter_high=1.2,
                       reset_after_s=100)


def _slot() -> WorkerSlot:
    slot = WorkerSlot(WorkerSpec(name="w", kind="decoder", entry=print, payload=None,
                                 backoff=POLICY))
    slot.backoff.rng = random.Random(7)
    return slot


def _delays(slot: WorkerSlot, count: int, run_s: float = 1.0) -> list[float]:
    delays, now = [], 1000.0
    for _ in range(count):
        slot.started = now
        now += run_s
        delays.append(slot.plan_restart(EXIT_GAVE_UP, now))
        now += delays[-1]
    return delays


def test_first_restart_is_immediate_then_backoff_grows_to_the_cap() -> None:
    delays = _delays(_slot(), 8)
    assert delays[0] == 0.0
    bases = [5, 10, 20, 40, 60, 60, 60]
    for delay, base in zip(delays[1:], bases):
        assert 0.8 * base <= delay <= 1.2 * base
    assert delays[1] < delays[2] < delays[3]


def test_a_long_healthy_run_resets_the_backoff() -> None:
    slot = _slot()
    _delays(slot, 4)
    assert slot.backoff.failures == 4
    assert _delays(slot, 1, run_s=POLICY.reset_after_s + 1) == [0.0]


def test_permanent_failure_waits_the_maximum() -> None:
    slot = _slot()
    slot.started = 0.0
    delay = slot.plan_restart(EXIT_CONFIG, 1.0)
    assert 0.8 * 60 <= delay <= 1.2 * 60
    assert slot.view(1.0).backoff_s == delay - 0.0 and not slot.view(1.0).up


def test_exit_descriptions() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL (maybe out of memory)"
    assert describe_exit(-signal.SIGKILL, killed_by_us=True) == "killed by SIGKILL"
    assert describe_exit(-99) == "killed by signal 99"  # no such signal: its number
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert "gave up" in describe_exit(EXIT_GAVE_UP)
    assert describe_exit(0).startswith("stopped cleanly")
    assert describe_exit(42) == "exited with code 42"
