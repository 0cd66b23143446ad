"""kill -9 of the supervisor: its decoders notice (parent-death signal) and exit, no orphan
stays; the rings it left are adopted by the next run of the same pool, which cleans up."""

from __future__ import annotations

import os
import signal

from polling import wait_for
def test_children_exit_when_the_supervisor_is_killed(pool_run, live_camera) -> None:
    pool_run.write_config({"a": live_camera, "b": live_camera})
    pool_run.start()
    for cam in "ab":
        pool_run.wait_frames(cam, timeout=120)
    assert pool_run.decoder_pid("a") and pool_run.decoder_pid("b")
    os.kill(pool_run.proc.pid, signal.SIGKILL)
    pool_run.proc.wait(30)
    wait_for(lambda: not pool_run.group_alive(), 30, "the orphaned workers to exit")
    assert len(pool_run.segments()) == 2  # nobody could unlink them
    pool_run.start()  # the same pool again: adopts or sweeps the dead run's rings
    for cam in "ab":
        pool_run.wait_frames(cam, more_than=pool_run.frames(cam), timeout=120)
    pool_run.assert_clean_exit()
