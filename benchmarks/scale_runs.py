"""The processes of ``benchmarks/scale.py``: the emulator (``kvs-pool emulate``, its own process
group) and one pool (``kvs-pool run``) per run, and the measurement of a running pool.

A run starts a pool of N KVS cameras on the emulator's N streams, waits until every camera has
committed a frame, lets start-up settle, then for ``window_s`` polls each ring header every
0.2 s (``ring.peek_status``: no mapping) and scrapes ``/metrics`` every 5 s as Prometheus
would. CPU is ``user + system`` of each process from psutil, sampled at both ends of the
window: decoders are the producer pids of the rings that already hold a frame (a decoder still
starting is not yet a camera's steady cost); the supervisor is the pool process; anything else
under it (decoders still starting, a forkserver template, the resource tracker) is reported as
"other"; the emulator is reported, never counted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from scale_accounting import MB, CameraTrack, judge, median_or_none, private_and_proportional

from kvs_pool.errors import RingError
from kvs_pool.ring import RingGeometry, peek_status, sweep_stale

POLL_S = 0.2
SCRAPE_EVERY_S = 5.0
MEMORY_SAMPLE = 24        # decoders whose smaps are read (reading all 200 takes seconds)
ENV = {"AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator",
       "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class Mode:
    """A sampling mode: its name, the ``target_fps`` of its config, frames kept per second."""

    name: str
    target_fps: float | None
    kept_fps: float


@dataclass(frozen=True)
class Media:
    """What the emulator serves each camera."""

    width: int = 1280
    height: int = 720
    fps: int = 25
    gop: int = 50

    def ring_bytes(self, slots: int = 8) -> int:
        return RingGeometry(self.width, self.height, 3, slots).total_size


@dataclass(frozen=True)
class RunPlan:
    """One pool run: how many cameras, which mode, how long to wait and measure."""

    cameras: int
    mode: Mode
    window_s: float
    settle_s: float
    ready_timeout_s: float


def camera_ids(n: int) -> list[str]:
    return [f"cam-{i:03d}" for i in range(n)]


@contextmanager
def emulator(media: Media, n: int) -> Iterator[tuple[str, psutil.Process]]:
    """``kvs-pool emulate`` serving ``n`` streams on a free port: (base URL, its process)."""
    streams = [f"--stream={c}={media.width}x{media.height}@{media.fps}/{media.gop}"
               for c in camera_ids(n)]
    proc = subprocess.Popen([sys.executable, "-m", "kvs_pool", "emulate", "--port", "0",
                             *streams], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        yield _endpoint(proc, 120.0), psutil.Process(proc.pid)
    finally:
        _stop(proc, 10.0)


def _endpoint(proc: subprocess.Popen, timeout: float) -> str:
    """The first ``http://host:port`` the emulator prints (its banner names its endpoint);
    an emulator silent for ``timeout`` is killed, which ends the read."""
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if match := re.search(r"(http://[\w.-]+:\d+)", line):
                return match[1]
    finally:
        watchdog.cancel()
    raise RuntimeError(f"kvs-pool emulate printed no endpoint: {seen[-3:]!r}")


def _stop(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def pool_config(pool: str, state_dir: str, plan: RunPlan, endpoint: str, media: Media) -> str:
    """The YAML of a pool of ``plan.cameras`` KVS cameras on the emulator."""
    target = "null" if plan.mode.target_fps is None else repr(plan.mode.target_fps)
    lines = ["pool:", f"  name: {pool}", "  metrics: {host: 127.0.0.1, port: 0}",
             f"  state_dir: {state_dir}", "defaults:", f"  target_fps: {target}",
             f"  max_resolution: [{media.width}, {media.height}]", "cameras:"]
    for cam in camera_ids(plan.cameras):
        lines += [f"  - id: {cam}", "    source:",
                  f"      kvs: {{stream_name: {cam}, region: us-east-1, "
                  f"endpoint_url: '{endpoint}'}}"]
    return "\n".join(lines) + "\n"


@contextmanager
def running_pool(plan: RunPlan, endpoint: str, media: Media
                 ) -> Iterator[tuple[str, psutil.Process, str]]:
    """``kvs-pool run`` of a generated config: (pool name, supervisor process, state dir)."""
    pool = f"scale{os.getpid() % 100000}x{int(time.monotonic() * 1000) % 100000}"
    with tempfile.TemporaryDirectory(prefix="kvs-scale-") as tmp:
        config = Path(tmp, "pool.yaml")
        config.write_text(pool_config(pool, tmp, plan, endpoint, media))
        log = open(Path(tmp, "pool.log"), "wb")
        proc = subprocess.Popen([sys.executable, "-m", "kvs_pool", "run", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **ENV})
        try:
            yield pool, psutil.Process(proc.pid), tmp
        finally:
            _stop(proc, 30.0)
            log.close()
            sweep_stale(pool)                     # only if the pool could not unlink them
            if proc.returncode not in (0, None):
                sys.stderr.write(Path(tmp, "pool.log").read_text(errors="replace")[-2000:])


def wait_ready(pool: str, cameras: list[str], timeout: float, proc: psutil.Process
               ) -> tuple[float, list[float]]:
    """Seconds until every camera committed a frame (or the timeout; the run goes on), and
    the CPU seconds each decoder had used when its first frame was seen (its start-up cost)."""
    start = time.monotonic()
    waiting, startup = set(cameras), []
    while waiting and time.monotonic() - start < timeout and proc.is_running():
        for cam in list(waiting):
            status = _peek(pool, cam)
            if status is not None and status.write_seq > 0:
                waiting.discard(cam)
                if (cpu := _cpu(status.producer_pid)) is not None:
                    startup.append(cpu)
        time.sleep(0.5)
    return time.monotonic() - start, startup


def _peek(pool: str, camera_id: str) -> Any:
    try:
        return peek_status(pool, camera_id)
    except RingError:
        return None


def _cpu(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _cpu_table(pids: set[int]) -> dict[int, float]:
    return {pid: cpu for pid in pids if (cpu := _cpu(pid)) is not None}


def _scrape(url: str | None) -> float | None:
    """Milliseconds of one ``/metrics`` request (None without an endpoint)."""
    if not url:
        return None
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
            answer.read()
    except OSError:
        return None
    return 1000 * (time.perf_counter() - start)


def _metrics_url(state_dir: str) -> str | None:
    from kvs_pool.pool.statefile import read_state

    return (read_state(state_dir) or {}).get("metrics_url")


def _descendants(proc: psutil.Process) -> set[int]:
    try:
        return {p.pid for p in proc.children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _poll(pool: str, cameras: list[str], window_s: float, url: str | None
          ) -> tuple[dict[str, CameraTrack], list[float]]:
    """Snapshot every ring each POLL_S for ``window_s``; scrape /metrics every 5 s."""
    tracks = {cam: CameraTrack(cam) for cam in cameras}
    scrapes: list[float] = []
    start = time.monotonic()
    next_scrape = start + 1.0
    while (now := time.monotonic()) - start < window_s:
        for cam, track in tracks.items():
            status = _peek(pool, cam)
            if status is not None and status.write_seq > 0:
                track.observe(status.write_seq, status.last_frame_mono, status.last_frame_wall,
                              status.producer_pid, time.monotonic())
        if now >= next_scrape:
            next_scrape += SCRAPE_EVERY_S
            if (ms := _scrape(url)) is not None:
                scrapes.append(ms)
        time.sleep(max(0.0, POLL_S - (time.monotonic() - now)))
    return {c: t for c, t in tracks.items() if t.first is not None}, scrapes


def _memory(pids: list[int]) -> tuple[list[float], list[float]]:
    """USS and PSS (MB, rings excluded) of up to MEMORY_SAMPLE decoders."""
    uss, pss = [], []
    for pid in pids[:MEMORY_SAMPLE]:
        try:
            u, p = private_and_proportional(psutil.Process(pid).memory_maps(grouped=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        uss.append(u / MB), pss.append(p / MB)
    return uss, pss


def measure(plan: RunPlan, endpoint: str, media: Media, emu: psutil.Process) -> dict[str, Any]:
    """One pool run of ``plan``: CPU, memory, delivery verdict, scrape times."""
    cameras = camera_ids(plan.cameras)
    with running_pool(plan, endpoint, media) as (pool, sup, state_dir):
        ready_s, startup = wait_ready(pool, cameras, plan.ready_timeout_s, sup)
        time.sleep(plan.settle_s)
        decoders = {s.producer_pid for c in cameras  # delivering: past their start-up
                    if (s := _peek(pool, c)) and s.producer_pid and s.write_seq > 0}
        others = _descendants(sup) - decoders
        everyone = decoders | others | {sup.pid, emu.pid}
        before, wall0, self0 = _cpu_table(everyone), time.monotonic(), time.process_time()
        tracks, scrapes = _poll(pool, cameras, plan.window_s, _metrics_url(state_dir))
        after, wall = _cpu_table(everyone), time.monotonic() - wall0
        observer = time.process_time() - self0
        uss, pss = _memory(sorted(decoders))
    return _run_figures(plan, wall, (before, after), (decoders, others, sup.pid, emu.pid),
                        {"ready_s": round(ready_s, 1), "startup": startup, "uss": uss,
                         "pss": pss, "scrapes": scrapes, "observer_cpu": observer / wall,
                         "tracks": list(tracks.values())})


def _cores(before: dict[int, float], after: dict[int, float], pids: set[int], wall: float
           ) -> tuple[float, int]:
    """Cores used by the ``pids`` alive at both ends of the window, and how many they were."""
    alive = [p for p in pids if p in before and p in after]
    return sum(after[p] - before[p] for p in alive) / wall, len(alive)


def _run_figures(plan: RunPlan, wall: float, cpu: tuple[dict, dict],
                 pids: tuple[set[int], set[int], int, int], seen: dict[str, Any]
                 ) -> dict[str, Any]:
    before, after = cpu
    decoders, others, sup, emu = pids
    dec_cores, dec_n = _cores(before, after, decoders, wall)
    sup_cores = _cores(before, after, {sup}, wall)[0]
    verdict = judge(seen["tracks"], plan.mode.kept_fps, plan.cameras)
    n = max(dec_n, 1)
    return {
        "mode": plan.mode.name, "cameras": plan.cameras, "window_s": round(wall, 1),
        "ready_s": seen["ready_s"], "cameras_delivering": len(seen["tracks"]),
        "decoder_start_cpu_s": _round(median_or_none(seen["startup"]), 2),
        "decoders_measured": dec_n,
        "decoder_cores": round(dec_cores, 3), "supervisor_cores": round(sup_cores, 4),
        "other_pool_cores": round(_cores(before, after, others, wall)[0], 4),
        "emulator_cores_not_counted": round(_cores(before, after, {emu}, wall)[0], 3),
        "observer_cores_not_counted": round(seen["observer_cpu"], 3),
        "cpu_per_camera": round((dec_cores + sup_cores) / n, 4),
        "decoder_cpu_per_camera": round(dec_cores / n, 4),
        "supervisor_cpu_per_camera": round(sup_cores / n, 5),
        "decoder_uss_mb": _round(median_or_none(seen["uss"])),
        "decoder_pss_mb": _round(median_or_none(seen["pss"])),
        "scrape_ms_median": _round(median_or_none(seen["scrapes"])),
        "passed": verdict.passed, "delivery_min": round(verdict.delivery_min, 4),
        "gap_max_s": round(verdict.gap_max_s, 2), "restarted": verdict.restarted,
        "lag_growth_max_s": round(verdict.lag_growth_max_s, 2),
        "failures": list(verdict.failures[:5]),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
