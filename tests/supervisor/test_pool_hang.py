"""A decoder frozen with SIGSTOP stops heart-beating: the supervisor detects it as hung,
replaces it (SIGTERM + SIGCONT, then SIGKILL), and frames flow again; the other camera keeps
its decoder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
from polling import wait_for


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_sigstopped_decoder_is_replaced(pool_run, live_camera) -> None:
    pool_run.write_config({"cam0": live_camera, "cam1": live_camera},
                          stall={"heartbeat_timeout_s": 4})
    pool_run.start()
    for cam in ("cam0", "cam1"):
        pool_run.wait_frames(cam, timeout=120)
    old = wait_for(lambda: pool_run.decoder_pid("cam0"), 30, "decoder pid of cam0")
    other = pool_run.decoder_pid("cam1")
    os.kill(old, signal.SIGSTOP)
    try:
        new = wait_for(lambda: pool_run.decoder_pid("cam0") not in (0, old)
                       and pool_run.decoder_pid("cam0"), 90, "a new decoder for cam0")
    finally:
        os.kill(old, signal.SIGCONT) if not _gone(old) else None
    assert new != old
    wait_for(lambda: _gone(old), 30, "the hung decoder to be gone")
    assert any("hung: no heartbeat" in m for m in pool_run.warnings("decoder-cam0"))
    before = pool_run.frames("cam0")
    pool_run.wait_frames("cam0", more_than=before + 5, timeout=60)
    assert pool_run.decoder_pid("cam1") == other
    _second_run_is_refused(pool_run)
    pool_run.assert_clean_exit()


def _second_run_is_refused(run) -> None:
    """The same pool started twice: the second run exits 1 naming the problem, and leaves the
    first one (rings, state file, decoders) alone."""
    pids = {cam: run.decoder_pid(cam) for cam in ("cam0", "cam1")}
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(run.config_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "already running" in result.stderr and "Traceback" not in result.stderr
    assert {cam: run.decoder_pid(cam) for cam in pids} == pids
    assert run.state()["pid"] == run.proc.pid
    before = run.frames("cam1")
    run.wait_frames("cam1", more_than=before + 5, timeout=60)
