"""Prove that a reader thread is blocked in FUTEX_WAIT on its ring's futex word, by asking Linux.

A test showing that a commit wakes a waiting reader must first know the reader is waiting:
sleeping a while and hoping proves nothing (a reader that returned at once, or had not started
yet, passes the same sleep). The kernel says what a thread is blocked in:
``/proc/<pid>/task/<tid>/syscall`` holds ``running`` while the thread runs, else the number of
the system call it is in followed by that call's arguments in hex. A reader parked on the ring
shows the futex syscall, the address of the ring's futex word in this process and the op
FUTEX_WAIT; a thread waiting for the GIL or for a ``threading.Lock`` is also in futex(), but on
another address with a private or bitset op, so it never matches.
"""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path

from polling import wait_for

from kvs_pool.ring import RingReader

__all__ = ["futex_word_address", "in_futex_wait", "wait_until_blocked"]

# Syscall numbers from the kernel's tables, independent of the code under test.
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine())
_FUTEX_WAIT = 0
_FUTEX_CMD_MASK = 0x7F  # the op without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256)


def futex_word_address(reader: RingReader) -> int:
    """Where the reader's mapping of the ring's futex word is, in this process."""
    mapping = reader._m  # noqa: SLF001 - the address is what the kernel reports for the wait
    assert mapping is not None, "the reader is closed"
    return mapping.futex_address


def _syscall(tid: int) -> list[str]:
    """The thread's ``syscall`` fields (``["running"]`` while it runs; [] once it has ended)."""
    try:
        return Path(f"/proc/{os.getpid()}/task/{tid}/syscall").read_text().split()
    except FileNotFoundError:
        return []


def in_futex_wait(tid: int, address: int) -> bool:
    """True if thread ``tid`` of this process is blocked in FUTEX_WAIT on ``address`` now."""
    fields = _syscall(tid)
    return (len(fields) >= 3 and fields[0] == str(_SYS_FUTEX) and int(fields[1], 16) == address
            and int(fields[2], 16) & _FUTEX_CMD_MASK == _FUTEX_WAIT)


def wait_until_blocked(thread: threading.Thread, reader: RingReader, timeout: float = 30.0) -> None:
    """Return once ``thread`` is seen blocked in FUTEX_WAIT on ``reader``'s ring; fail the test
    if it ends first or is not seen there within ``timeout`` s."""
    assert _SYS_FUTEX is not None, f"no futex syscall number known for {platform.machine()}"
    tid, address = thread.native_id, futex_word_address(reader)
    assert tid is not None, f"{thread.name} was not started"

    def blocked() -> bool:
        assert thread.is_alive(), f"{thread.name} ended before it was seen blocked in FUTEX_WAIT"
        return in_futex_wait(tid, address)

    wait_for(blocked, timeout, interval=0.005,
             what=lambda: (f"{thread.name} to block in FUTEX_WAIT on the ring's futex word "
                           f"({address:#x}); its syscall reads {' '.join(_syscall(tid)[:3])!r}"))
