"""SIGHUP: a removed camera's decoder stops and its ring goes, an added camera starts, a changed
camera restarts, an unchanged camera keeps its decoder; a broken config is refused."""

from __future__ import annotations

import os
import signal

from polling import wait_for


def test_sighup_adds_removes_and_restarts_only_what_changed(pool_run, live_camera) -> None:
    pool_run.write_config({"a": live_camera, "b": live_camera, "c": live_camera})
    pool_run.start()
    for cam in "abc":
        pool_run.wait_frames(cam, timeout=120)
    pids = {cam: pool_run.decoder_pid(cam) for cam in "abc"}
    pool_run.write_config({"a": live_camera, "c": live_camera, "d": live_camera},
                          per_camera={"c": {"target_fps": 5}})
    os.kill(pool_run.proc.pid, signal.SIGHUP)
    pool_run.wait_frames("d", timeout=120)
    wait_for(lambda: not any(p.endswith(".b") for p in pool_run.segments()), 60,
             "the removed camera's ring to be unlinked")
    wait_for(lambda: pool_run.decoder_pid("c") not in (0, pids["c"]), 60, "c restarted")
    wait_for(lambda: pool_run.worker("decoder-b") is None, 30, "b gone from the state file")
    assert pool_run.decoder_pid("a") == pids["a"]
    pool_run.wait_frames("c", more_than=pool_run.frames("c"), timeout=60)
    # a broken config is refused and nothing changes
    running = {c: pool_run.decoder_pid(c) for c in "acd"}
    pool_run.config_path.write_text("pool: {name: x}\ncameras: []\n")
    os.kill(pool_run.proc.pid, signal.SIGHUP)
    wait_for(lambda: any("reload refused" in r["msg"] for r in pool_run.logs()), 30,
             "the refused reload in the log")
    assert {c: pool_run.decoder_pid(c) for c in "acd"} == running
    assert sorted(p.rsplit(".", 1)[1] for p in pool_run.segments()) == ["a", "c", "d"]
    pool_run.assert_clean_exit()
