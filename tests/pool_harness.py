"""The pool-test harness: a real `kvs-pool run` process and helpers to observe it.

``PoolRun`` writes a config, runs ``python -m kvs_pool run`` in its own session (process group)
with JSON logs to a file, reads the supervisor's state file, the rings, the logs and the metrics
endpoint, and ``cleanup()`` SIGKILLs whatever is left in that group and unlinks the pool's
segments. A module of its own (not conftest) so test modules can import it unambiguously.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml
from polling import wait_for

from kvs_pool.pool.statefile import read_state
from kvs_pool.ring import RingReader, RingStatus

SHM = Path("/dev/shm")


def dead_url() -> str:
    """An HLS URL on a port where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/live.m3u8"


class PoolRun:
    """One `kvs-pool run` process of a test, with helpers to observe it."""

    def __init__(self, pool: str, directory: Path) -> None:
        self.pool, self.dir = pool, directory
        self.config_path = directory / "pool.yaml"
        self.state_dir = directory / "state"
        self.log_path = directory / "pool.log"
        self.proc: subprocess.Popen | None = None
        self.seen_pids: set[int] = set()

    def write_config(self, cameras: dict[str, str], per_camera: dict[str, dict] | None = None,
                     **defaults: Any) -> Path:
        doc = {"pool": {"name": self.pool, "metrics": {"port": 0},
                        "state_dir": str(self.state_dir), "shutdown_timeout_s": 10},
               "defaults": {"max_resolution": [320, 240], "ring_slots": 16,
                            "backoff": {"initial_s": 0.5, "max_s": 4, "reset_after_s": 30},
                            "stall": {"heartbeat_timeout_s": 10}, **defaults},
               "cameras": [{"id": cam, "source": {"url": url}, **(per_camera or {}).get(cam, {})}
                           for cam, url in cameras.items()]}
        self.config_path.write_text(yaml.safe_dump(doc))
        return self.config_path

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kvs_pool", "--log-format", "json", "run",
             str(self.config_path), "--kill-grace", "3"],
            stdout=log, stderr=log, start_new_session=True)
        log.close()

    # -- observing ------------------------------------------------------------------------------
    def state(self) -> dict:
        return read_state(str(self.state_dir)) or {}

    def worker(self, name: str) -> dict | None:
        return next((w for w in self.state().get("workers", []) if w["name"] == name), None)

    def decoder_pid(self, camera: str) -> int:
        """Pid of the camera's running decoder (0 if none), per the supervisor's state file."""
        w = self.worker(f"decoder-{camera}")
        pid = w["pid"] if w and w["up"] else 0
        if pid:
            self.seen_pids.add(pid)
        return pid

    def ring(self, camera: str) -> RingStatus | None:
        try:
            with RingReader.attach(self.pool, camera) as reader:
                return reader.status()
        except Exception:  # noqa: BLE001 - not there (yet, or any more)
            return None

    def frames(self, camera: str) -> int:
        status = self.ring(camera)
        return status.write_seq if status else 0

    def wait_frames(self, camera: str, more_than: int = 0, timeout: float = 60.0) -> int:
        return wait_for(lambda: self.frames(camera) > more_than and self.frames(camera),
                        timeout, f"frames of {camera} beyond {more_than}", interval=0.02)

    def logs(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def metrics_url(self) -> str:
        return wait_for(lambda: self.state().get("metrics_url"), 60, "the metrics endpoint")

    def group_alive(self) -> list[int]:
        """Pids still alive in the pool's process group (its session)."""
        assert self.proc is not None
        alive = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if _pgid(proc.pid) == self.proc.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc.pid)
            except psutil.Error:
                pass
        return alive

    def describe_alive(self) -> list[str]:
        """``pid status cmdline`` of each process still alive in the pool's group."""
        out = []
        for pid in self.group_alive():
            try:
                proc = psutil.Process(pid)
                out.append(f"{pid} {proc.status()} {' '.join(proc.cmdline())[:80]}")
            except psutil.Error:
                pass
        return out

    def segments(self) -> list[str]:
        return sorted(p.name for p in SHM.glob(f"kvspool.{self.pool}.*"))

    # -- ending ---------------------------------------------------------------------------------
    def scrape(self, path: str = "/metrics") -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.metrics_url() + path, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def warnings(self, worker: str) -> list[str]:
        return [r["msg"] for r in self.logs()
                if r.get("level") == "warning" and r["msg"].startswith(worker + " ")]

    def assert_clean_exit(self, signum: int = signal.SIGTERM) -> None:
        """SIGTERM (or SIGINT): exit 0, no process left in the group, no segment left."""
        assert self.terminate(signum=signum) == 0
        wait_for(lambda: not self.group_alive(), 30, "every pool process to exit")
        assert self.segments() == []

    def terminate(self, timeout: float = 60.0, signum: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        if self.proc is None:
            return
        for pid in self.group_alive() + sorted(self.seen_pids):
            try:
                if _pgid(pid) == self.proc.pid:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        for path in SHM.glob(f"kvspool.{self.pool}.*"):
            path.unlink(missing_ok=True)


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return -1


