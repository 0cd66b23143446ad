"""Other local users and /dev/shm: a ring is trusted only when it is ours and 0600.

Runs as root (the test suite does): files of "another user" (``NOBODY``) are made with ``os.chown``
or by a forked child that switched to that uid, and "the pool's user" is a forked child with another
uid where root would be allowed what the pool's user is not (removing a file of another user in the
sticky /dev/shm). A process that may be killed by SIGBUS is a forked child too.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from forked import NOBODY, in_child

from kvs_pool.cli import main
from kvs_pool.errors import RingError
from kvs_pool.ring import RingGeometry, RingReader, RingWriter, create_ring, sweep_stale

SHM = Path("/dev/shm")
SMALL = RingGeometry(64, 48, 3, 4)
POOL_UID = 40001   # the pool's user when it must not be root

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play two users")


def plant_ring(pool: str, mode: int = 0o666) -> int:
    """Another user leaves a valid ring of ``pool`` behind (dead owner); returns its inode."""
    def job() -> str:
        owner = create_ring(pool, "cam", SMALL)
        os.chmod(SHM / owner.name, mode)
        return "planted"  # exits without unlinking, like a killed owner
    assert in_child(job, NOBODY) == "planted"
    st = (SHM / f"kvspool.{pool}.cam").stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, mode)
    return st.st_ino


def create_in(pool: str) -> Callable[[], str]:
    def job() -> str:
        owner = create_ring(pool, "cam", SMALL)
        st = (SHM / owner.name).stat()
        owner.unlink()
        return f"created uid={st.st_uid} mode={stat.S_IMODE(st.st_mode):o} ino={st.st_ino}"
    return job


def test_valid_ring_of_another_user_is_replaced_not_adopted(pool_name: str) -> None:
    planted = plant_ring(pool_name)
    owner = create_ring(pool_name, "cam", SMALL)
    try:
        st = (SHM / owner.name).stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
        assert st.st_ino != planted
    finally:
        owner.unlink()


def test_our_ring_left_mode_0666_is_replaced(pool_name: str) -> None:
    first = create_ring(pool_name, "cam", SMALL)
    path = SHM / first.name
    path.chmod(0o666)
    first._m.close()  # the owner "dies" without unlinking  # noqa: SLF001
    first._m = None  # noqa: SLF001
    planted = path.stat().st_ino
    owner = create_ring(pool_name, "cam", SMALL)
    try:
        assert (stat.S_IMODE(path.stat().st_mode), path.stat().st_ino != planted) == (0o600, True)
    finally:
        owner.unlink()


def test_ring_of_another_user_that_cannot_be_removed_is_refused(pool_name: str) -> None:
    plant_ring(pool_name)
    result = in_child(create_in(pool_name), POOL_UID)
    assert result.startswith(f"raised RingError: /dev/shm/kvspool.{pool_name}.cam is in the way"
                             f" (it belongs to user 'nobody' (uid {NOBODY})"), result
    assert "user 'nobody' (uid 65534) or root must remove it" in result


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_garbage_file_of_another_user_is_one_clear_error(pool_name: str, mode: int) -> None:
    path = SHM / f"kvspool.{pool_name}.cam"
    path.write_bytes(b"garbage" * 100)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)

    def job() -> str:
        swept = sweep_stale(pool_name)  # was a PermissionError traceback
        try:
            return f"swept {swept}; " + create_in(pool_name)()
        except RingError as exc:
            return f"swept {swept}; raised RingError: {exc}"
    result = in_child(job, POOL_UID)
    assert result.startswith(f"swept []; raised RingError: {path} is in the way (it belongs to "
                             f"user 'nobody' (uid {NOBODY})"), result
    assert path.exists()


def test_run_refuses_a_foreign_file_in_one_line(pool_name: str) -> None:
    path = SHM / f"kvspool.{pool_name}.c1"
    path.write_bytes(b"garbage")
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o600)
    work = Path(tempfile.mkdtemp(prefix="kvs-pool-hostile."))  # reachable by POOL_UID
    try:
        os.chown(work, POOL_UID, POOL_UID)
        config = work / "pool.yaml"
        config.write_text(f"pool: {{name: {pool_name}, state_dir: {work / 'state'}, "
                          "metrics: {port: 0}}\n"
                          "cameras: [{id: c1, source: {url: 'http://127.0.0.1:9/x.m3u8'}}]\n")

        def job() -> str:
            sys.stdout = sys.stderr = captured = io.StringIO()
            code = main(["run", str(config)])
            return f"exit {code}\n{captured.getvalue()}"
        for module in ("kvs_pool.supervisor", "kvs_pool.pool.runtime"):  # what `run` imports late:
            importlib.import_module(module)  # the child (POOL_UID) may not read the venv or stdlib
        result = in_child(job, POOL_UID)
    finally:
        shutil.rmtree(work)
    assert result.startswith("exit 1\n") and "Traceback" not in result, result
    errors = [line for line in result.splitlines() if line.startswith("kvs-pool run: ")]
    assert errors == [f"kvs-pool run: {path} is in the way (it belongs to user 'nobody' "
                      f"(uid {NOBODY}), not to this process's uid {POOL_UID}) and this process "
                      "cannot remove it (/dev/shm is sticky): user 'nobody' (uid 65534) or root "
                      "must remove it, or give the pool another name"], result


@pytest.mark.parametrize("tamper", ["chown", "chmod"])
def test_readers_and_writers_refuse_a_ring_others_could_touch(pool_name: str,
                                                               tamper: str) -> None:
    owner = create_ring(pool_name, "cam", SMALL)
    path = SHM / owner.name
    try:
        if tamper == "chown":
            os.chown(path, NOBODY, NOBODY)
        else:
            path.chmod(0o640)
        for attach in (RingReader.attach, RingWriter.attach):
            with pytest.raises(RingError, match="refusing it"):
                attach(pool_name, "cam")
    finally:
        owner.unlink()


def test_truncated_ring_is_an_error_not_a_sigbus(pool_name: str) -> None:
    def job() -> str:  # owner, writer and reader in a child: a SIGBUS kills only the child
        owner = create_ring(pool_name, "cam", SMALL)
        writer = RingWriter.attach(pool_name, "cam")
        reader = RingReader.attach(pool_name, "cam")
        for value in (1, 2):
            writer.loan(48, 64, 3)[:] = value
            writer.commit(capture_ts=float(value))
        os.truncate(SHM / owner.name, 0)  # what only the pool's user or root can do
        time.sleep(1.1)  # past the reader's and the writer's re-check period
        out = []
        for action in (reader.latest, lambda: reader.next(timeout=0.5),
                       lambda: writer.loan(48, 64, 3)):
            try:
                action()
                out.append("returned")
            except RingError as exc:
                out.append(str(exc))
        owner.unlink()
        return "\n".join(out + ["owner survived"])
    result = in_child(job)
    lines = result.splitlines()
    assert len(lines) == 4 and lines[3] == "owner survived", result
    assert all("was truncated to 0 bytes" in line for line in lines[:3]), result
    assert not (SHM / f"kvspool.{pool_name}.cam").exists()
