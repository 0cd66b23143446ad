"""The worker template process (a zygote): pre-loads what every worker shares, forks workers.

The supervisor starts it (``kvs_pool.supervisor.template``) in a fresh interpreter as ``main([POOL,
FD, SUPERVISOR_PID, MODULES, LABEL])``. It imports ``MODULES`` (numpy, cv2, av, the ring, the worker
bootstrap: what every decoder needs; boto3 only in the KVS decoders' template; never onnxruntime),
runs ``gc.freeze()`` so the collector never writes those objects' pages, and then only serves fork
requests on the control socket ``FD``: no thread (OpenBLAS is held to one by the supervisor's
environment), no other socket, no ring. Imported code and data are then shared copy-on-write by
every worker; each worker imports what its kind needs itself.

A request is forked twice: the template forks an intermediate, which forks the worker and exits
at once, so the worker is adopted by the supervisor (a child subreaper) and reaped by it like a
child of its own. The worker waits for that adoption before setting its parent-death signal
(the kernel sends it on every change of parent). The template never unpickles a request: the
worker does, after the fork, so a payload's modules are imported in that worker only.

Control channel (AF_UNIX stream socketpair; integers little-endian)::

    template -> supervisor  once, when loaded:  int64  template pid
    supervisor -> template  per worker:         uint32 n, then n bytes of request
    template -> supervisor  per worker:         int64  worker pid (> 0), or -errno (fork failed)

    request = pickle of (sys.path of the supervisor, pickle of ChildArgs)

The template ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C or a service stop reaches the whole
process group; the supervisor orchestrates the stop): it exits when the control socket closes
(the supervisor stopped or died) and, through its parent-death signal (SIGKILL), when the
supervisor dies.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import pickle
import signal
import socket
import struct
import sys
import time

from kvs_pool.exits import EXIT_CRASH, EXIT_ORPHANED
from kvs_pool.supervisor.child import run_child, set_title

__all__ = ["main", "recv_exact", "LENGTH", "PID"]

_PR_SET_PDEATHSIG = 1
LENGTH = struct.Struct("<I")
PID = struct.Struct("<q")
_ADOPTION_S = 5.0       # longest wait for the intermediate process to exit


def recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None at end of stream."""
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _die_with_parent(supervisor_pid: int) -> bool:
    """Ask for SIGKILL when the supervisor dies; False if it already has (we were adopted)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return os.getppid() == supervisor_pid


def _await_adoption(intermediate: int) -> None:  # pragma: no cover - after the fork, in the worker
    """Wait until the intermediate process has exited and we have a new parent."""
    deadline = time.monotonic() + _ADOPTION_S
    while os.getppid() == intermediate and time.monotonic() < deadline:
        time.sleep(0.0005)


def _become_worker(  # pragma: no cover - after the fork, in the worker
        sock: socket.socket, request: bytes, intermediate: int) -> int:
    """In the forked worker: drop the template's state, run the bootstrap; returns exit code."""
    sock.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # blocked until the bootstrap's handler is set
    _await_adoption(intermediate)
    try:
        sys_path, blob = pickle.loads(request)
        sys.path[:] = sys_path
        args = pickle.loads(blob)
    except Exception as exc:  # noqa: BLE001 - e.g. a payload's module cannot be imported
        print(f"kvs-pool worker: cannot read its arguments: {exc!r}", file=sys.stderr)
        return EXIT_CRASH
    return run_child(args)


def _fork_worker(sock: socket.socket, request: bytes) -> int:
    """Fork a worker adopted by the supervisor; returns its pid or -errno."""
    read_end, write_end = os.pipe()
    # The worker inherits SIGTERM blocked: one sent before its handler exists waits for it.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        intermediate = os.fork()
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_end)
        os.close(write_end)
        return -(exc.errno or 1)
    if intermediate == 0:  # pragma: no cover - after the fork, in the intermediate
        _intermediate(sock, request, read_end, write_end)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reply = pipe.read(PID.size)
    os.waitpid(intermediate, 0)
    return PID.unpack(reply)[0] if len(reply) == PID.size else -1


def _intermediate(  # pragma: no cover - after the fork, in the intermediate
        sock: socket.socket, request: bytes, read_end: int, write_end: int) -> None:
    """The intermediate process: fork the worker, report its pid, exit (never returns)."""
    code = 0
    try:
        os.close(read_end)
        me = os.getpid()
        try:
            pid = os.fork()
        except OSError as exc:
            pid = -(exc.errno or 1)
        if pid == 0:
            os.close(write_end)
            code = EXIT_CRASH
            code = _become_worker(sock, request, me)
            sys.stdout.flush()
            sys.stderr.flush()
        else:
            os.write(write_end, PID.pack(pid))
    finally:
        os._exit(code)


def serve(sock: socket.socket) -> None:
    """Fork one worker per request until the supervisor closes the channel."""
    while True:
        header = recv_exact(sock, LENGTH.size)
        request = recv_exact(sock, LENGTH.unpack(header)[0]) if header else None
        if request is None:
            return
        sock.sendall(PID.pack(_fork_worker(sock, request)))


def preload(modules: list[str]) -> None:
    """Import what every worker shares, then freeze it out of the collector's reach."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a worker importing it will say what is wrong
            print(f"kvs-pool template: cannot preload {name}: {exc}", file=sys.stderr)
    gc.collect()
    gc.freeze()


def main(argv: list[str]) -> int:
    """``argv``: pool name, control socket fd, supervisor pid, modules (comma-separated), label."""
    pool, fd, supervisor_pid = argv[0], int(argv[1]), int(argv[2])
    modules, label = argv[3], argv[4]
    if not _die_with_parent(supervisor_pid):
        return EXIT_ORPHANED
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # the supervisor stops us
        signal.signal(signum, signal.SIG_IGN)
    set_title(f"kvs-pool[{pool}]: template {label}".rstrip())
    sock = socket.socket(fileno=fd)
    preload([name for name in modules.split(",") if name])
    sock.sendall(PID.pack(os.getpid()))
    serve(sock)
    return 0
