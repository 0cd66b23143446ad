"""Worker entry points for the arbiter's in-process tests (``fn(payload, stop) -> code``)."""

from __future__ import annotations

import signal
import threading
import time


def stubborn(payload: object, stop: threading.Event) -> int:
    """Ignores SIGTERM: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)


def exit_with(payload: int, stop: threading.Event) -> int:
    """Exits with ``payload`` at once."""
    return payload


def obedient(payload: object, stop: threading.Event) -> int:
    """Runs until SIGTERM, then exits 0."""
    stop.wait()
    return 0
