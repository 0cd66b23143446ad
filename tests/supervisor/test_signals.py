"""The signal queue: handlers only enqueue, the wait wakes at once, previous handlers return."""

from __future__ import annotations

import os
import signal
import threading
import time

from kvs_pool.supervisor.signals import SignalQueue


def test_wait_wakes_on_a_signal_and_returns_it_in_order() -> None:
    before = signal.getsignal(signal.SIGHUP)
    queue = SignalQueue((signal.SIGHUP, signal.SIGUSR1))
    try:
        assert queue.wait(0.01) == []
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGHUP))
        timer.start()
        started = time.monotonic()
        got = queue.wait(30.0)
        assert got == [signal.SIGHUP]
        assert time.monotonic() - started < 20.0  # woke on the signal, not the timeout
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGHUP)
        assert queue.wait(1.0) == [signal.SIGUSR1, signal.SIGHUP]
    finally:
        queue.close()
    assert signal.getsignal(signal.SIGHUP) == before
