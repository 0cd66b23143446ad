"""One worker process: the narrow handle the arbiter holds, and the bootstrap run inside it.

The handle (start, terminate, kill, poll, pid) wraps a ``multiprocessing`` *spawn* process: a
fresh interpreter, so no lock, thread or mapping of the supervisor leaks into a worker. The
bootstrap (``_bootstrap``, the process target) prepares the child before calling the worker's
entry point ``fn(payload, stop)``:

* ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` so the kernel tells it when the supervisor dies, then a
  ``getppid()`` check closes the race of a parent that died before the prctl. The signal fires
  when the *thread* that forked the child ends, so workers are only started from the
  supervisor's main thread (never from the metrics thread);
* SIGTERM sets the ``stop`` event (graceful stop), SIGINT is ignored (a terminal's Ctrl-C goes
  to the whole process group; the supervisor orchestrates the stop);
* logging in the pool's format with the worker's name and camera id on every line;
* extra environment (e.g. the emulator's dummy AWS credentials), and none of systemd's
  ``NOTIFY_SOCKET``/``WATCHDOG_*``: only the supervisor talks to systemd.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from kvs_pool.logs import bind, configure
from kvs_pool.workers import EXIT_CRASH, EXIT_ORPHANED

__all__ = ["ChildArgs", "ChildHandle"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_CONTEXT = multiprocessing.get_context("spawn")
_SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@dataclass(frozen=True)
class ChildArgs:
    """Everything the bootstrap needs; pickled to the spawned interpreter."""

    name: str
    entry: str                      # "package.module:function"
    payload: Any
    parent_pid: int
    log_level: str = "info"
    log_format: str = "text"
    camera_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class ChildHandle:
    """The supervisor's view of one running worker process."""

    def __init__(self, args: ChildArgs) -> None:
        self.args = args
        self._process = _CONTEXT.Process(target=_bootstrap, args=(args,), name=args.name,
                                         daemon=False)

    def start(self) -> int:
        """Start the process; returns its pid."""
        self._process.start()
        return self.pid

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def poll(self) -> int | None:
        """Reap without blocking: None while running, else the exit code (-N: killed by N)."""
        return self._process.exitcode

    def signal(self, signum: int) -> None:
        """Send a signal unless the process is already gone."""
        if self._process.exitcode is None and self.pid:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        """Ask for a graceful stop: SIGTERM, and SIGCONT in case it was stopped (SIGSTOP)."""
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def close(self) -> None:
        """Release the process object once it has been reaped."""
        if self._process.exitcode is not None:
            self._process.close()


def _set_parent_death_signal(parent_pid: int) -> None:
    """Have the kernel SIGTERM us when the supervisor dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the workers' getppid() check remains
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() != parent_pid:
        log.error("supervisor %d is gone before start: exiting", parent_pid)
        sys.exit(EXIT_ORPHANED)


def _install_signals(stop: threading.Event) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _resolve(entry: str) -> Any:
    module_name, _, function = entry.partition(":")
    return getattr(importlib.import_module(module_name), function)


def _bootstrap(args: ChildArgs) -> None:
    """Process target: prepare the child, run the entry point, exit with its code."""
    configure(args.log_level, args.log_format)
    context = {"worker": args.name}
    if args.camera_id:
        context["camera_id"] = args.camera_id
    bind(**context)
    for key in _SYSTEMD_ENV:
        os.environ.pop(key, None)
    os.environ.update(args.env)
    stop = threading.Event()
    _install_signals(stop)
    _set_parent_death_signal(args.parent_pid)
    try:
        code = int(_resolve(args.entry)(args.payload, stop) or 0)
    except Exception:  # noqa: BLE001 - the one place a worker's crash is logged
        log.exception("worker %s crashed", args.name)
        code = EXIT_CRASH
    logging.shutdown()
    sys.exit(code)
