"""kill -9 of the supervisor: its decoders notice (parent-death signal) and exit, no orphan
stays; the rings it left are adopted by the next run of the same pool, which cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from polling import wait_for


def test_children_exit_when_the_supervisor_is_killed(pool_run, live_camera) -> None:
    pool_run.write_config({"a": live_camera, "b": live_camera})
    pool_run.start()
    for cam in "ab":
        pool_run.wait_frames(cam, timeout=120)
    assert pool_run.decoder_pid("a") and pool_run.decoder_pid("b")
    os.kill(pool_run.proc.pid, signal.SIGKILL)
    pool_run.proc.wait(30)
    # a decoder ends its current read (bounded by the source's read timeout) before it exits
    wait_for(lambda: not pool_run.group_alive(), 60,
             lambda: f"the orphaned workers to exit; alive: {pool_run.describe_alive()}")
    assert len(pool_run.segments()) == 2  # nobody could unlink them
    killed = _status(pool_run)  # its state file still lists every decoder "up"
    assert killed.returncode == 1, killed.stdout + killed.stderr
    assert f"not running: its supervisor (pid {pool_run.proc.pid}) is gone" in killed.stdout
    rows = [line.split() for line in killed.stdout.splitlines() if line[:2] in ("a ", "b ")]
    assert len(rows) == 2 and all(row[2] == "0.0" for row in rows), killed.stdout  # no fps
    assert not any(line.endswith(" up") for line in killed.stdout.splitlines()), killed.stdout
    pool_run.start()  # the same pool again: adopts or sweeps the dead run's rings
    for cam in "ab":
        pool_run.wait_frames(cam, more_than=pool_run.frames(cam), timeout=120)
    running = _status(pool_run)
    assert running.returncode == 0 and "not running" not in running.stdout, running.stdout
    pool_run.assert_clean_exit()
    stopped = _status(pool_run)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout + stopped.stderr, stopped


def _status(pool_run) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kvs_pool", "status", str(pool_run.config_path)],
                          capture_output=True, text=True, timeout=120)
