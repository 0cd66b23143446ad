"""A real pool and its worker template: every process shows its title in /proc/PID/cmdline,
the template is not the decoders' parent (the supervisor is), kill -9 of the template leaves
the running decoders alone, and the next restart comes from a new template."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
from polling import wait_for


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def _templates(run) -> list[int]:
    title = f"kvs-pool[{run.pool}]: template"
    return [child.pid for child in psutil.Process(run.proc.pid).children()
            if _cmdline(child.pid) == title]


def test_titles_and_a_killed_template(pool_run, live_camera) -> None:
    pool_run.write_config({"a": live_camera, "b": live_camera})
    pool_run.start()
    for cam in "ab":
        pool_run.wait_frames(cam, timeout=120)
    a, b = pool_run.decoder_pid("a"), pool_run.decoder_pid("b")
    assert _cmdline(pool_run.proc.pid) == f"kvs-pool[{pool_run.pool}]: supervisor"
    assert _cmdline(a) == f"kvs-pool[{pool_run.pool}]: decoder a"
    assert psutil.Process(a).ppid() == pool_run.proc.pid
    [template] = _templates(pool_run)

    os.kill(template, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(template), 30, "the template to be reaped")
    frames = pool_run.frames("a")
    pool_run.wait_frames("a", more_than=frames + 10, timeout=60)
    assert pool_run.decoder_pid("a") == a  # untouched by the template's death

    os.kill(b, signal.SIGKILL)
    wait_for(lambda: pool_run.decoder_pid("b") not in (0, b), 60, "b's restart")
    frames = pool_run.frames("b")
    pool_run.wait_frames("b", more_than=frames + 5, timeout=60)
    assert _templates(pool_run) not in ([], [template])
    assert any("worker template" in r["msg"] and "next worker starts a new one" in r["msg"]
               for r in pool_run.logs())
    pool_run.assert_clean_exit()
