"""Run a function in a forked child, optionally as another user: for tests of what another
local user may do (the suite runs as root, so a child can switch to any uid) and of code that
may die of a signal (a SIGBUS kills the child, not pytest).

The child inherits every module already imported: a child running as another uid cannot read
the virtualenv under root's home, so import what the job needs before calling ``in_child``."""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["in_child", "NOBODY"]

NOBODY = 65534


def in_child(job: Callable[[], str], uid: int | None = None) -> str:
    """``job()`` in a forked child (as ``uid``, gid the same): its result, ``raised Type: msg``,
    or ``signal N`` when a signal killed the child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read)
        try:
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            out = job()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = f"raised {type(exc).__name__}: {exc}"
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else out
