"""Helpers for the pool tests: a config of emulator cameras and real `kvs-pool run` instances.

Each instance is a real process (its own session, so a test can kill it with its children);
``Instances`` stops every one it started, even when the test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from kvs_pool.emulator import EmulatorServer, StreamSpec
from kvs_pool.emulator.config import EmulatorConfig
from kvs_pool.pool.observe import instance_rings as rings
from kvs_pool.pool.observe import readers

W, H, FPS, GOP = 160, 96, 10, 10
__all__ = ["emulator", "write_config", "rings", "readers", "Instances", "state", "ENV"]

ENV = {"AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator",
       "AWS_DEFAULT_REGION": "us-east-1"}


def emulator(count: int, moto: bool = False) -> EmulatorServer:
    """An emulator serving ``count`` small streams ``s0..s<count-1>`` (and moto if asked)."""
    streams = tuple(StreamSpec(f"s{i}", W, H, FPS, GOP, seconds=2.0) for i in range(count))
    return EmulatorServer(EmulatorConfig(streams=streams, moto=moto))


def write_config(path: Path, pool: str, endpoint: str, count: int,
                 extra_pool: dict[str, Any] | None = None, **sections: Any) -> Path:
    """A pool config of ``count`` cameras ``c<i>`` reading emulator stream ``s<i>``."""
    doc = {"pool": {"name": pool, "metrics": {"port": 0}, "state_dir": str(path.parent / "state"),
                    "shutdown_timeout_s": 10, **(extra_pool or {})},
           "aws": {"region": "us-east-1", "endpoint_url": endpoint},
           "defaults": {"max_resolution": [W, H], "ring_slots": 4},
           "cameras": [{"id": f"c{i}", "source": {"kvs": {"stream_name": f"s{i}"}}}
                       for i in range(count)], **sections}
    path.write_text(yaml.safe_dump(doc))
    return path


class Instances:
    """Real `kvs-pool run` processes of one test (context manager: all stopped at exit)."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config, self.logs = config, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "kvs_pool", "run", str(self.config), "--kill-grace", "3",
             *args], stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, **ENV, **(env or {})})
        log.close()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def kill9(self, name: str) -> None:
        """SIGKILL the instance's supervisor only (its workers see their parent die)."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(30)

    def stop(self, name: str, timeout: float = 60) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            raise

    def __enter__(self) -> Instances:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in list(self.procs.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in list(self.procs.values()):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        self.procs.clear()


def state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / "supervisor.json").read_text())
    except (OSError, ValueError):
        return None

