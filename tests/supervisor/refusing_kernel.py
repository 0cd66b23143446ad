"""Run a worker template under a kernel that refuses one of its system calls.

``python refusing_kernel.py REFUSAL POOL`` installs a seccomp filter (libseccomp, through ctypes)
in this process, which every process it starts inherits, then does as a supervisor does and
prints the ``KvsPoolError`` it gets and whether its template still runs (exit 0), or says that
none came (exit 1). ``REFUSAL``:

* ``subreaper``: ``prctl(PR_SET_CHILD_SUBREAPER)`` fails with EINVAL, as on a kernel without it,
  so ``WorkerTemplate.start`` must refuse to start workers it could not reap;
* ``fork``: a fork (a ``clone`` without ``CLONE_VM``) fails with EAGAIN, as under a container's
  pids limit, so the template (started with ``vfork``, which the filter allows) answers a spawn
  with -EAGAIN and keeps serving.

A filter cannot be removed, hence a process of its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys

from kvs_pool.errors import KvsPoolError
from kvs_pool.supervisor.child import ChildArgs
from kvs_pool.supervisor.template import WorkerTemplate

_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000          # | errno
_CMP_EQ, _CMP_MASKED_EQ = 4, 7   # enum scmp_compare
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_VM = 0x100


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``: compare syscall argument ``arg`` (masked_eq: a is the mask)."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def refuse(syscall: str, error: int, test: _ArgCmp) -> None:
    """From now on, ``syscall`` fails with ``error`` when its argument passes ``test``."""
    path = ctypes.util.find_library("seccomp")
    if path is None:
        sys.exit("refusing_kernel: libseccomp is not installed (Debian: libseccomp2)")
    lib = ctypes.CDLL(path)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(_ACT_ALLOW)
    number = lib.seccomp_syscall_resolve_name(syscall.encode())
    if lib.seccomp_rule_add_array(ctx, _ACT_ERRNO | error, number, 1, ctypes.byref(test)) or \
            lib.seccomp_load(ctx):
        sys.exit(f"refusing_kernel: cannot install a seccomp filter for {syscall}")
    lib.seccomp_release(ctx)


def main(refusal: str, pool: str) -> int:
    template = WorkerTemplate(pool, ("setproctitle",))
    args = ChildArgs(name="w", entry=print, payload=None, parent_pid=os.getpid())
    try:
        if refusal == "subreaper":
            refuse("prctl", errno.EINVAL, _ArgCmp(0, _CMP_EQ, _PR_SET_CHILD_SUBREAPER, 0))
            template.start()
        else:
            refuse("clone", errno.EAGAIN, _ArgCmp(0, _CMP_MASKED_EQ, _CLONE_VM, 0))
            template.spawn(args)
    except KvsPoolError as exc:
        print(exc)
        print(f"template running: {template.pid != 0}")
        return 0
    finally:
        template.stop()
    print("no error")
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
