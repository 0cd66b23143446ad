"""The supervisor's state file: what ``read_state`` gives back for what it finds on disk (the
file is read by ``kvs-pool status``, from another process, and may be damaged or foreign)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kvs_pool.metrics import WorkerView
from kvs_pool.pool.statefile import read_state, state_path, write_state


def test_a_written_state_reads_back(tmp_path: Path) -> None:
    view = WorkerView(name="decoder-c", kind="decoder", camera_id="c", pid=7, up=True,
                      restarts=1, failures=0, backoff_s=0.0)
    write_state(str(tmp_path), "p", [view], {"started": 1.0})
    doc = read_state(str(tmp_path))
    assert doc is not None
    assert (doc["pool"], doc["started"], doc["workers"][0]["name"]) == ("p", 1.0, "decoder-c")


@pytest.mark.parametrize("text", ["", "{", "[]", '"running"', "7", "null"])
def test_a_state_that_is_not_a_json_object_reads_as_none(tmp_path: Path, text: str) -> None:
    Path(state_path(str(tmp_path))).write_text(text, encoding="utf-8")
    assert read_state(str(tmp_path)) is None


def test_status_with_a_state_file_that_is_not_an_object_is_not_a_traceback(
        pool_name: str, tmp_path: Path) -> None:
    """A JSON list where the state belongs reads as no state: ``kvs-pool status`` then says
    what it says without one (here: no rings), never a traceback."""
    Path(state_path(str(tmp_path))).write_text("[]", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kvs_pool", "status", "--pool", pool_name,
                           "--state-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"kvs-pool status: pool {pool_name!r} has no rings: is it "
                                   "running on this host?")
