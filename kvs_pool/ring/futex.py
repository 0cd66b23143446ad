"""Wait for and wake on a 32-bit word in shared memory with the Linux futex syscall.

Why a futex word in the ring header and not a doorbell (pipe, eventfd, socket, semaphore): a futex
wakes a waiting process as fast as a pipe or a POSIX semaphore (``benchmarks/ring.py`` measures the
ring's wake-up next to a bare futex; figures in docs/ring.md), but it broadcasts to any number of
independently started readers with no per-reader state (no fd to hand out, nothing to register), and
a reader that dies while waiting leaves nothing behind (``multiprocessing.Event`` hung its setter
after a waiter was killed). The word lives in the segment, so attaching to the ring is all a reader
needs.

We use the *shared* (non-PRIVATE) ops because waiters and wakers are different processes that
map the same tmpfs page; the kernel keys the wait queue on (inode, offset).

ctypes releases the GIL around the call, so a thread blocked here does not stall its process.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
from collections.abc import Callable

__all__ = ["futex_wait", "futex_wake", "FUTEX_AVAILABLE"]

log = logging.getLogger(__name__)

_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine().lower())
_FUTEX_WAIT = 0
_FUTEX_WAKE = 1
_WAKE_ALL = 0x7FFFFFFF


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _load_syscall() -> Callable[..., int] | None:
    """libc's ``syscall(2)``, returning a C long (None where the futex number is unknown)."""
    if _SYS_FUTEX is None:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syscall
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    return fn


_syscall = _load_syscall()
FUTEX_AVAILABLE = _syscall is not None


def futex_wait(address: int, expected: int, timeout: float) -> bool:
    """Sleep while the u32 at ``address`` equals ``expected``, at most ``timeout`` seconds.

    Returns True when woken or when the word had already changed, False on timeout. Spurious
    wake-ups are possible (signals): callers re-check their condition in a loop.
    """
    if _syscall is None:  # not Linux x86-64/arm64: degrade to a short sleep (documented)
        import time
        time.sleep(min(timeout, 0.001))
        return True
    timeout = max(timeout, 0.0)
    ts = _Timespec(int(timeout), int((timeout % 1.0) * 1e9))
    rc = _syscall(_SYS_FUTEX, address, _FUTEX_WAIT, ctypes.c_int32(expected & 0xFFFFFFFF).value,
                  ctypes.addressof(ts), None, 0)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.ETIMEDOUT:
        return False
    if err in (errno.EAGAIN, errno.EINTR):
        return True
    raise OSError(err, f"futex wait failed: {os.strerror(err)}")


def futex_wake(address: int) -> int:
    """Wake every process waiting on the u32 at ``address``; returns how many were woken."""
    if _syscall is None:
        return 0
    rc = _syscall(_SYS_FUTEX, address, _FUTEX_WAKE, _WAKE_ALL, None, None, 0)
    return max(int(rc), 0)
