"""The supervisor's side of the worker template: start it, ask it for workers, recreate it.

``WorkerTemplate.spawn(args)`` returns a ``ChildHandle`` of a worker forked by the template
process (``kvs_pool.supervisor.zygote``, which documents the control channel). Workers are
adopted by the supervisor, which makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``)
before starting the template: they are its children for ``waitpid``, signals and the
parent-death signal, and live on when the template dies. A template that died (killed, crashed)
is replaced at the next spawn, with a warning; one that cannot start or answer raises
``KvsPoolError`` naming the cause (the arbiter retries that worker with backoff).

Workers must only be spawned from the supervisor's main thread (the parent-death signal fires
when the parent *thread* ends), and so is the template started.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import socket
import subprocess
import sys

from kvs_pool.errors import KvsPoolError
from kvs_pool.supervisor.child import ChildArgs, ChildHandle
from kvs_pool.supervisor.exits import describe_exit
from kvs_pool.supervisor.zygote import LENGTH, PID, recv_exact

__all__ = ["WorkerTemplate", "Templates", "PRELOAD"]

log = logging.getLogger(__name__)

# The modules every template imports by default; the pool names what its workers share
# (``PoolHooks.preload``), a spec what its kind adds (``WorkerSpec.preload``).
PRELOAD = ("setproctitle",)
_PR_SET_CHILD_SUBREAPER = 36
_LOAD_TIMEOUT_S = 120.0     # importing cv2 and av on a loaded box can take many seconds
_FORK_TIMEOUT_S = 10.0
# Not ``-m kvs_pool.supervisor.zygote``: the package imports that module before runpy runs it.
_MAIN = "import sys; from kvs_pool.supervisor.zygote import main; sys.exit(main(sys.argv[1:]))"
# One OpenBLAS thread, always: OpenBLAS starts its thread pool when numpy is imported, and the
# template must hold no thread when it forks (one process per camera wants single-threaded maths
# anyway). Two malloc arenas, unless the user chose: FFmpeg's decoding threads otherwise get an
# arena each, a few MB of private memory per decoder. Both are read once, at the template's
# start, and inherited by its workers.
_TEMPLATE_ENV = {"OPENBLAS_NUM_THREADS": "1"}
_TEMPLATE_ENV_DEFAULTS = {"MALLOC_ARENA_MAX": "2"}


def become_subreaper() -> None:
    """Adopt orphaned descendants (our workers) instead of leaving them to init."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise KvsPoolError("cannot become a child subreaper (prctl PR_SET_CHILD_SUBREAPER: "
                           f"{os.strerror(ctypes.get_errno())}): workers could not be reaped")


class WorkerTemplate:
    """The pool's template process, started on first use and replaced when it dies."""

    def __init__(self, pool: str, preload: tuple[str, ...] = PRELOAD, label: str = "") -> None:
        self.pool, self.preload, self.label = pool, preload, label
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    def start(self) -> None:
        """Start the template and wait until it has loaded its modules."""
        become_subreaper()
        ours, theirs = socket.socketpair()
        env = {**_TEMPLATE_ENV_DEFAULTS, **os.environ, **_TEMPLATE_ENV}
        cmd = [sys.executable, "-c", _MAIN, self.pool, str(theirs.fileno()), str(os.getpid()),
               ",".join(self.preload), self.label]
        try:
            self._proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), env=env,
                                          stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._sock = ours
        ours.settimeout(_LOAD_TIMEOUT_S)
        self._expect_pid("load its modules")
        log.info("worker template%s started, pid %d", f" {self.label}" if self.label else "",
                 self.pid)

    def spawn(self, args: ChildArgs) -> ChildHandle:
        """Fork a worker from the template (started or replaced first if needed)."""
        self.reap()
        if self._sock is None:
            self.start()
        assert self._sock is not None
        request = pickle.dumps((list(sys.path), pickle.dumps(args)))
        try:
            self._sock.settimeout(_FORK_TIMEOUT_S)
            self._sock.sendall(LENGTH.pack(len(request)) + request)
        except OSError as exc:  # it died (EPIPE) or stopped reading (the timeout)
            raise self._failed(f"take the request for {args.name}", str(exc)) from exc
        pid = self._expect_pid(f"fork {args.name}")
        if pid < 0:
            raise KvsPoolError(f"worker template cannot fork {args.name}: {os.strerror(-pid)}")
        return ChildHandle(args, pid)

    def _expect_pid(self, doing: str) -> int:
        """Read one int64 from the template; on failure stop it and raise a clear error."""
        assert self._sock is not None
        try:
            data = recv_exact(self._sock, PID.size)
        except OSError as exc:  # includes the timeout
            raise self._failed(doing, str(exc)) from exc
        if data is None:
            raise self._failed(doing, "it exited")
        return int(PID.unpack(data)[0])

    def _failed(self, doing: str, why: str) -> KvsPoolError:
        """Stop the template that failed ``doing``; the error to raise, with how it ended."""
        ended = self._discard()
        status = f" ({ended})" if ended is not None else ""
        return KvsPoolError(f"worker template did not {doing}: {why or 'timed out'}{status}; "
                            "see its error above")

    def reap(self) -> None:
        """If the template died, say so and forget it: the next spawn starts a new one."""
        if self._proc is not None and self._proc.poll() is not None:
            log.warning("worker template (pid %d) %s: the next worker starts a new one (running "
                        "workers are not affected)", self.pid,
                        describe_exit(self._proc.returncode))
            self._discard()

    def _discard(self) -> str | None:
        """Close the channel, end and reap the template; returns how it ended."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        try:
            return describe_exit(proc.wait(2.0))
        except subprocess.TimeoutExpired:  # frozen: we kill it (not the OOM killer)
            proc.kill()
            return describe_exit(proc.wait(), killed_by_us=True)

    def stop(self) -> None:
        """Stop the template (it exits when its channel closes)."""
        self._discard()


class Templates:
    """One template per set of extra modules (e.g. boto3 for KVS decoders), made on first use."""

    def __init__(self, pool: str, shared: tuple[str, ...] = PRELOAD) -> None:
        self.pool, self.shared = pool, shared
        self._by_extra: dict[tuple[str, ...], WorkerTemplate] = {}

    def get(self, extra: tuple[str, ...] = ()) -> WorkerTemplate:
        template = self._by_extra.get(extra)
        if template is None:
            label = extra[0].rpartition(".")[2].removesuffix("_preload") if extra else ""
            template = WorkerTemplate(self.pool, self.shared + extra, label)
            self._by_extra[extra] = template
        return template

    def start(self) -> None:
        """Start the shared template now, so that a broken environment fails the start."""
        self.get().start()

    def spawn(self, args: ChildArgs, extra: tuple[str, ...] = ()) -> ChildHandle:
        return self.get(extra).spawn(args)

    def reap(self) -> None:
        """Reap and report templates that died (called from the supervisor's loop)."""
        for template in self._by_extra.values():
            template.reap()

    def stop(self) -> None:
        for template in self._by_extra.values():
            template.stop()
