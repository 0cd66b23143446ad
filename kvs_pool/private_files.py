"""The pool's state files and directories, private to the pool's user whatever the umask.

The state directory holds the outbox (events, and snapshots of people), the events log, the
workers' stats and confirmation state: nothing another local user should read. Run from a shell
(umask 022) they used to be 0644 in a 0755 directory. Here every directory the pool creates is
0700 and every file 0600: ``os.open``/``os.makedirs`` are given those modes (a umask can only
remove bits, never add them) and files that already exist, owned by us, are ``fchmod``ed back to
0600 (a file of an earlier version). An existing directory is left as the operator made it (it
may be ``/var/lib`` or shared on purpose); files in it are 0600 regardless.

SQLite creates ``-wal`` and ``-shm`` files with the mode of the database file, so creating the
database file here first (``touch_private``) is enough to keep them 0600 too.
"""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["private_dir", "touch_private", "open_private", "write_private_atomic",
           "state_dir_problem"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory, created 0700 (with its missing parents) if it did not exist.

    Not ``os.makedirs(mode=...)``: that gives the mode to the leaf only, parents get the umask's.
    """
    target = Path(path)
    missing = []
    probe = target
    while not probe.is_dir() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
    return target


def _private_fd(path: Path, flags: int) -> int:
    private_dir(path.parent)
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def touch_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (0600) if missing, or make an existing file of ours 0600."""
    os.close(_private_fd(Path(path), os.O_RDWR))


def open_private(path: str | os.PathLike[str], mode: str = "a") -> IO[str]:
    """A text file opened for appending (``"a"``) or writing (``"w"``), 0600."""
    flags = os.O_WRONLY | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    return os.fdopen(_private_fd(Path(path), flags), mode, encoding="utf-8")


def write_private_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` by a 0600 file holding ``text``: readers see the old or the new one."""
    target = Path(path)
    private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:  # mkstemp creates 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def state_dir_problem(path: str) -> str | None:
    """Why the pool could not create or write ``path`` (None: it can), without leaving a trace.

    Probes for real (creates and removes a temporary directory in ``path``, or in its nearest
    existing parent): ``os.access`` says yes to root for paths that refuse anything (``/proc``).
    """
    probe = Path(path)
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            return f"cannot create {path}: {probe} is not a directory"
        os.rmdir(tempfile.mkdtemp(prefix=".kvs-pool-probe.", dir=probe))
    except OSError as exc:
        where = "" if probe == Path(path) else f" (in {probe})"
        who = f" (as {_user()})" if isinstance(exc, PermissionError) else ""
        return f"cannot create or write {path}{where}: {exc.strerror or exc}{who}"
    return None


def _user() -> str:
    try:
        return f"user {pwd.getpwuid(os.geteuid()).pw_name!r}"
    except KeyError:
        return f"uid {os.geteuid()}"
