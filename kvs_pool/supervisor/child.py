"""One worker process: the narrow handle the arbiter holds, and the bootstrap run inside it.

Workers are forked by the pool's template process (``kvs_pool.supervisor.zygote``) and adopted
by the supervisor, a child subreaper: the handle (poll, signal, terminate, kill, pid) reaps them
with ``waitpid`` as its own children, so exit statuses read as before (>= 0 exit code, -N killed
by signal N) and no pid is reused while the handle may still signal it. The bootstrap
(``run_child``, called in the worker after the fork) prepares the child before calling the
worker's entry point ``fn(payload, stop)``:

* its process title (``kvs-pool[<pool>]: decoder <camera>``, seen by ``ps`` and ``top``);
* ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` so the kernel tells it when the supervisor dies, then a
  ``getppid()`` check closes the race of a parent that died before the prctl. The signal fires
  when the *thread* that is the parent ends: adopted workers have the supervisor's main thread
  (the first thread of the process) as parent, so it fires when the supervisor dies;
* SIGTERM sets the ``stop`` event (graceful stop), SIGINT is ignored (a terminal's Ctrl-C goes
  to the whole process group; the supervisor orchestrates the stop);
* logging in the pool's format with the worker's name and camera id on every line;
* extra environment (e.g. the emulator's dummy AWS credentials), and none of systemd's
  ``NOTIFY_SOCKET``/``WATCHDOG_*``: only the supervisor talks to systemd.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvs_pool.exits import EXIT_CRASH, EXIT_ORPHANED
from kvs_pool.logs import bind, configure

__all__ = ["ChildArgs", "ChildHandle", "Entry", "run_child", "set_title"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
_LOST = 255  # exit code reported for a worker that cannot be reaped (not our child)

Entry = Callable[[Any, threading.Event], int]
"""A worker's entry point ``fn(payload, stop) -> exit code``: a module-level function, so that
pickling names it and the worker imports its module only when unpickling it, after the fork."""


@dataclass(frozen=True)
class ChildArgs:
    """Everything the bootstrap needs; pickled to the worker (unpickled only there)."""

    name: str
    entry: Entry                    # module-level function, pickled by reference
    payload: Any
    parent_pid: int
    log_level: str = "info"
    log_format: str = "text"
    camera_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    title: str = ""                 # process title, e.g. "kvs-pool[site1]: decoder front-door"


class ChildHandle:
    """The supervisor's view of one running worker process (its own, adopted child)."""

    def __init__(self, args: ChildArgs, pid: int) -> None:
        self.args = args
        self.pid = pid
        self._code: int | None = None

    def poll(self) -> int | None:
        """Reap without blocking: None while running, else the exit code (-N: killed by N)."""
        if self._code is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                log.error("%s (pid %d) is not a child of the supervisor: cannot reap it",
                          self.args.name, self.pid)
                self._code = _LOST
                return self._code
            if pid:
                self._code = os.waitstatus_to_exitcode(status)
        return self._code

    def signal(self, signum: int) -> None:
        """Send a signal unless the process has been reaped (its pid may be reused then)."""
        if self._code is None and self.pid:
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
        """Nothing to release: kept for the arbiter's symmetry with start."""


def set_title(title: str) -> None:
    """Set the process title shown by ps/top (/proc/PID/cmdline); no-op when empty."""
    if title:
        import setproctitle  # preloaded by the template; imported here for the supervisor
        setproctitle.setproctitle(title)


def _set_parent_death_signal(  # pragma: no cover - after the fork, in the worker
        parent_pid: int) -> None:
    """Have the kernel SIGTERM us when the supervisor dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the workers' getppid() check remains
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() != parent_pid:
        log.error("supervisor %d is gone before start: exiting", parent_pid)
        raise SystemExit(EXIT_ORPHANED)


def _install_signals(  # pragma: no cover - after the fork, in the worker
        stop: threading.Event) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Forked with SIGTERM blocked (see zygote): a stop sent during start-up is delivered now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _prepare(  # pragma: no cover - after the fork, in the worker
        args: ChildArgs) -> threading.Event:
    """Title, logging, environment and signals of the worker; returns its stop event."""
    set_title(args.title)
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
    return stop


def _exit_code(exc: SystemExit) -> int:  # pragma: no cover - after the fork, in the worker
    """``sys.exit(x)`` as the interpreter would exit: None -> 0, int -> itself, else 1."""
    if exc.code is None or isinstance(exc.code, int):
        return int(exc.code or 0)
    log.error("%s", exc.code)
    return EXIT_CRASH


def run_child(args: ChildArgs) -> int:  # pragma: no cover - after the fork, in the worker
    """In the worker: prepare it, run the entry point; returns the process's exit code."""
    stop = _prepare(args)
    try:
        _set_parent_death_signal(args.parent_pid)
        code = int(args.entry(args.payload, stop) or 0)
    except SystemExit as exc:
        code = _exit_code(exc)
    except Exception:  # noqa: BLE001 - the one place a worker's crash is logged
        log.exception("worker %s crashed", args.name)
        code = EXIT_CRASH
    logging.shutdown()
    return code
