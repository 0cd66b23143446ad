"""The leases part of ``benchmarks/shard.py``: failover, double reads and rebalance with real
instances (see that file's docstring for the definitions).

A sampler thread reads every ring of the pool every 0.2 s. Each ring lifetime (instance,
camera, segment inode) gives an interval [first frame, last frame] (first frame estimated
from the first sample as ``last_frame_mono - (write_seq - 1) / fps``; the last frame is the
last one seen, up to 0.2 s early). Double reads are overlaps of intervals of one camera in
two instances. The baseline printed beside failover is the same run's cold start: the time
from starting three instances to every camera delivering frames.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from kvs_pool.emulator import EmulatorServer, StreamSpec
from kvs_pool.emulator.config import EmulatorConfig
from kvs_pool.pool.leases import create_table
from kvs_pool.pool.observe import SHM, readers, ring_status

__all__ = ["run_leases"]

W, H, FPS, GOP = 160, 96, 10, 10
LEASE_S = 5.0
ENV = {"AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator"}


@dataclass
class Life:
    """One ring's lifetime in one instance."""

    instance: str
    camera: str
    first: float
    last: float


class Sampler(threading.Thread):
    """Reads every ring of the pool every 0.2 s; keeps each ring lifetime's frame interval."""

    def __init__(self, pool: str) -> None:
        super().__init__(daemon=True)
        self.pool, self.lives, self.done = pool, {}, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for seg in SHM.glob(f"kvspool.{self.pool}-*"):
                self.sample(seg)

    def sample(self, seg: Path) -> None:
        try:
            key = (seg.name, seg.stat().st_ino)
        except FileNotFoundError:
            return
        _, instance, camera = seg.name.split(".", 2)
        status = ring_status(instance, camera)
        if status is None or status.write_seq == 0:
            return
        life = self.lives.get(key)
        if life is None:
            first = status.last_frame_mono - (status.write_seq - 1) / FPS
            self.lives[key] = Life(instance, camera, first, status.last_frame_mono)
        else:
            life.last = status.last_frame_mono

    def double_read_s(self) -> float:
        lives = list(self.lives.values())
        total = 0.0
        for i, a in enumerate(lives):
            for b in lives[i + 1:]:
                if a.camera == b.camera and a.instance != b.instance:
                    total += max(0.0, min(a.last, b.last) - max(a.first, b.first))
        return total


def _config(tmp: Path, pool: str, endpoint: str, cameras: int) -> Path:
    doc = {"pool": {"name": pool, "metrics": {"port": 0}, "state_dir": str(tmp / "state"),
                    "assignment": {"mode": "leases", "table": "leases", "lease_s": LEASE_S}},
           "aws": {"region": "us-east-1", "endpoint_url": endpoint},
           "defaults": {"max_resolution": [W, H], "ring_slots": 4},
           "cameras": [{"id": f"c{i}", "source": {"kvs": {"stream_name": f"s{i}"}}}
                       for i in range(cameras)]}
    path = tmp / "pool.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _start(config: Path, name: str, tmp: Path) -> subprocess.Popen[bytes]:
    with (tmp / f"{name}.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "kvs_pool", "run", str(config),
                                 "--instance", name, "--kill-grace", "3"], stdout=log,
                                stderr=log, start_new_session=True, env={**os.environ, **ENV})


def _wait(predicate, timeout: float) -> float | None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def _balanced(pool: str, names: set[str], cameras: int) -> bool:
    seen = readers(pool, fresh_s=2.0)
    if len(seen) != cameras or any(len(who) != 1 for who in seen.values()):
        return False
    loads = [sum(1 for who in seen.values() if n in who) for n in names]
    return max(loads) - min(loads) <= 1


def _scenario(pool: str, config: Path, tmp: Path, cameras: int) -> dict[str, float | None]:
    names = {f"{pool}-i{i}" for i in range(3)}
    procs = {f"i{i}": _start(config, f"i{i}", tmp) for i in range(3)}
    sampler = Sampler(pool)
    sampler.start()
    try:
        startup = _wait(lambda: _balanced(pool, names, cameras), 180)
        victim = f"{pool}-i0"
        moved = {c for c, who in readers(pool).items() if victim in who}
        procs.pop("i0").kill()
        failover = _wait(lambda: all(readers(pool, 2.0).get(c, set()) - {victim}
                                     for c in moved), 120)
        _wait(lambda: _balanced(pool, names - {victim}, cameras), 60)
        procs["i0"] = _start(config, "i0", tmp)
        rebalance = _wait(lambda: _balanced(pool, names, cameras), 240)
        time.sleep(1.0)
    finally:
        sampler.done.set()
        sampler.join()
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(60)
    return {"startup_s": startup, "failover_s": failover, "rebalance_s": rebalance,
            "double_read_camera_s": sampler.double_read_s(), "moved": float(len(moved)),
            "handovers": float(len(sampler.lives) - cameras)}


def run_leases(quick: bool) -> dict[str, float | None]:
    """3 instances x 30 cameras (``quick``: 12) in leases mode against moto; print and return."""
    cameras = 12 if quick else 30
    pool = f"bsh{os.getpid()}"
    streams = tuple(StreamSpec(f"s{i}", W, H, float(FPS), GOP, seconds=2.0)
                    for i in range(cameras))
    os.environ.update(ENV)
    with tempfile.TemporaryDirectory() as tmp, \
            EmulatorServer(EmulatorConfig(streams=streams, moto=True)) as emu:
        create_table("leases", "us-east-1", emu.base_url)
        try:
            got = _scenario(pool, _config(Path(tmp), pool, emu.base_url, cameras), Path(tmp),
                            cameras)
        finally:
            for seg in SHM.glob(f"kvspool.{pool}-*"):
                seg.unlink(missing_ok=True)
    _report(got, cameras)
    return {"failover_s": _round(got["failover_s"]), "lease_s": LEASE_S,
            "double_read_camera_s": _round(got["double_read_camera_s"]),
            "rebalance_s": _round(got["rebalance_s"])}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _report(got: dict[str, float | None], cameras: int) -> None:
    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} s"
    print(f"leases: 3 instances x {cameras} cameras, lease_s {LEASE_S:g}")
    print(f"  cold start (baseline): {show(got['startup_s'])}")
    print(f"  failover after kill -9: {show(got['failover_s'])} "
          f"(bound 2 x lease_s + 5 = {2 * LEASE_S + 5:g} s)")
    print(f"  rebalance after restart: {show(got['rebalance_s'])}")
    moves = got["handovers"] or 0.0
    print(f"  double reads: {got['double_read_camera_s']:.1f} camera-s over the run, "
          f"{moves:g} handovers ({got['moved']:g} by the kill, the rest steals): bound one "
          f"lease per handover = {moves * LEASE_S:g} camera-s")
