"""Signals for the arbiter: handlers that only enqueue, and a wait that wakes on them.

The handlers append the signal number to a deque and nothing else; ``signal.set_wakeup_fd``
makes the interpreter write a byte to a pipe on each signal, so the main loop can sleep in
``select`` on that pipe with a timeout and wake at once when a signal arrives (the self-pipe
trick, as gunicorn's arbiter does by hand).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import select
import signal
from collections.abc import Iterable

__all__ = ["SignalQueue", "HANDLED"]

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)


class SignalQueue:
    """Queue of received signals; install in the main thread, ``close()`` to restore."""

    def __init__(self, signums: Iterable[int] = HANDLED) -> None:
        self._queue: collections.deque[int] = collections.deque()
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._capacity = fcntl.fcntl(self._read_fd, fcntl.F_GETPIPE_SZ)
        self._old_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, self._enqueue) for s in signums}

    def _enqueue(self, signum: int, frame: object) -> None:
        self._queue.append(signum)

    def wait(self, timeout: float) -> list[int]:
        """Sleep until a signal arrives or ``timeout`` s pass; return the signals received."""
        if not self._queue:
            try:
                select.select([self._read_fd], [], [], max(timeout, 0.0))
            except InterruptedError:  # pragma: no cover - PEP 475 retries select
                pass
        self._drain()
        received = []
        while self._queue:
            received.append(self._queue.popleft())
        return received

    def _drain(self) -> None:
        """Empty the wake-up pipe: one read of its capacity takes every byte it can hold (we
        hold its write end, so it never reads as closed; empty, it raises BlockingIOError)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._read_fd, self._capacity)

    def close(self) -> None:
        """Restore the previous handlers and wakeup fd; close the pipe."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self._read_fd)
        os.close(self._write_fd)
