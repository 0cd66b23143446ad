"""State files are private to the pool's user whatever the umask: dirs 0700, files 0600."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from forked import NOBODY, in_child

from kvs_pool.pipeline.stats import write_json_atomic
from kvs_pool.private_files import private_dir, state_dir_problem
from kvs_pool.publish.jsonl import JsonlParams, JsonlPublisher
from kvs_pool.publish.outbox import Outbox, OutboxParams


@pytest.fixture(autouse=True)
def shell_umask() -> Iterator[None]:
    """What a pool started from a login shell gets."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_state_file_is_0600_and_every_new_dir_0700(tmp_path: Path) -> None:
    state = tmp_path / "var" / "site1"
    with Outbox(OutboxParams(state / "outbox.sqlite3"), {"jsonl:x": 1}) as outbox:
        outbox.emit({"event_id": "e1", "camera_id": "cam-a", "type": "start"},
                    b"snapshot of a person")
        files = {p.name: mode(p) for p in state.iterdir()}
    JsonlPublisher(JsonlParams(state / "events.jsonl")).publish([])
    write_json_atomic(state / "stats" / "people.json", {"frames": 1})
    write_json_atomic(state / "confirm" / "people.json", {"open": []})
    JsonlPublisher(JsonlParams(state / "out" / "published.jsonl")).publish([])
    for path in sorted(state.rglob("*")):
        files[str(path.relative_to(state))] = mode(path)
    assert {"outbox.sqlite3-wal", "outbox.sqlite3-shm"} <= set(files), files
    assert {name: m for name, m in files.items() if m not in (0o600, 0o700)} == {}
    assert mode(tmp_path / "var") == mode(state) == 0o700
    assert all(m == 0o700 for n, m in files.items() if (state / n).is_dir())


def test_a_file_left_0644_by_an_earlier_version_is_made_0600(tmp_path: Path) -> None:
    old = tmp_path / "events.jsonl"
    old.write_text('{"event_id": "old"}\n')
    old.chmod(0o644)
    JsonlPublisher(JsonlParams(old)).publish([])
    assert mode(old) == 0o600 and old.read_text() == '{"event_id": "old"}\n'


def test_private_dir_leaves_an_existing_directory_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    private_dir(tmp_path / "a" / "b")
    assert (mode(tmp_path), mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (
        0o755, 0o700, 0o700)


@pytest.mark.parametrize("path, reason", [
    ("/proc/x", "cannot create or write /proc/x (in /proc): "),
    ("/dev/null/x", "cannot create /dev/null/x: /dev/null is not a directory"),
])
def test_state_dir_problem_names_the_path_and_the_reason(path: str, reason: str) -> None:
    problem = state_dir_problem(path)
    assert problem is not None and problem.startswith(reason), problem


def test_state_dir_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    assert state_dir_problem(str(tmp_path / "new" / "state")) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
@pytest.mark.parametrize("parent_mode", [0o755, 0o700])  # not writable; not even searchable
def test_state_dir_problem_names_the_user_when_permission_is_denied(parent_mode: int) -> None:
    top = Path(tempfile.mkdtemp(prefix="kvs-pool-test."))  # outside pytest's 0700 tmp dirs
    top.chmod(0o755)
    locked = top / "locked"
    locked.mkdir(mode=parent_mode)
    wanted = locked / "a" / "state"
    try:
        result = in_child(lambda: state_dir_problem(str(wanted)) or "ok", NOBODY)
    finally:
        shutil.rmtree(top)
    where = f" (in {locked})" if parent_mode == 0o755 else ""
    assert result == (f"cannot create or write {wanted}{where}: Permission denied "
                      "(as user 'nobody')")
